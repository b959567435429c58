"""The Official Account's custom menu: read and check config/wechat_menu.yaml, push it with `menu/create`.

A CLICK entry's key is a chat command's button data (`cmd:report` …): a tap arrives as a CLICK event and runs
the same command as the typed words. A VIEW entry opens its url; its event is acknowledged with no answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from wechatpy.client import WeChatClient

from bot.flows.resident import COMMANDS
from bot.wechat.send import wechat_errors

# WeChat's limits: 3 top-level entries of 16 bytes, 5 entries of 60 bytes under each; keys of 128 bytes.
MAX_TOP, MAX_SUB = 3, 5
MAX_TOP_NAME, MAX_SUB_NAME, MAX_KEY, MAX_URL = 16, 60, 128, 1024


class MenuError(ValueError):
    """A menu file that WeChat would refuse or whose keys no command answers; says which entry and why."""


def load_menu(path: Path) -> dict[str, Any]:
    """The checked menu as `menu/create` takes it. Raises MenuError naming the file, the entry and the problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MenuError(f"{path}: cannot read: {exc}") from exc
    entries = data.get("button") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_TOP:
        raise MenuError(f"{path}: `button` must list 1 to {MAX_TOP} entries")
    return {"button": [_entry(path, e, f"button[{i}]", top=True) for i, e in enumerate(entries)]}


def _entry(path: Path, entry: Any, where: str, *, top: bool) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise MenuError(f"{path}: {where}: not a mapping")
    name = str(entry.get("name") or "")
    limit = MAX_TOP_NAME if top else MAX_SUB_NAME
    if not name or len(name.encode()) > limit:
        raise MenuError(f"{path}: {where}: name {name!r} must be 1 to {limit} bytes")
    subs = entry.get("sub_button")
    if top and subs is not None:
        if not isinstance(subs, list) or not 1 <= len(subs) <= MAX_SUB:
            raise MenuError(f"{path}: {where}: sub_button must list 1 to {MAX_SUB} entries")
        return {
            "name": name,
            "sub_button": [_entry(path, s, f"{where}.sub_button[{i}]", top=False) for i, s in enumerate(subs)],
        }
    kind = str(entry.get("type") or "")
    if kind == "click":
        key = str(entry.get("key") or "")
        command, _, rest = key.partition(":")
        if command != "cmd" or rest not in COMMANDS or len(key) > MAX_KEY:
            known = ", ".join(f"cmd:{c}" for c in COMMANDS)
            raise MenuError(f"{path}: {where}: key {key!r} is no command (one of {known})")
        return {"type": "click", "name": name, "key": key}
    if kind == "view":
        url = str(entry.get("url") or "")
        if not url.startswith(("https://", "http://")) or len(url) > MAX_URL:
            raise MenuError(f"{path}: {where}: url {url!r} must be an http(s) address of at most {MAX_URL} bytes")
        return {"type": "view", "name": name, "url": url}
    raise MenuError(f"{path}: {where}: type {kind!r} must be click or view (or give sub_button)")


def push_menu(client: WeChatClient, menu: dict[str, Any]) -> None:
    """Replace the Official Account's menu. Raises a ChannelError when WeChat refuses it."""
    with wechat_errors("wechat menu/create"):
        client.menu.create(menu)

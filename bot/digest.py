"""The daily digest a staff member reads: their open tasks by warning light, the overdue ones by number."""

from __future__ import annotations

from typing import Any

from backend.texts import t
from bot.messages import Button, Outbound


def digest_messages(counts: dict[str, Any], lang: str) -> list[Outbound]:
    """The digest text (and a button per overdue ticket) from digest_counts' figures."""
    lines = [
        t("digest.title", lang),
        t(
            "digest.counts",
            lang,
            total=counts.get("total", 0),
            red=counts.get("red", 0),
            yellow=counts.get("yellow", 0),
            green=counts.get("green", 0),
        ),
        t("digest.new", lang, count=counts.get("new", 0)),
    ]
    overdue = [str(n) for n in counts.get("overdue") or []]
    if overdue:
        lines.append(t("digest.overdue", lang, numbers="、".join(overdue)))
    if not counts.get("total"):
        lines.append(t("digest.clear", lang))
    text = "\n".join(lines)
    buttons = tuple(Button(n, f"task:view:{n}") for n in overdue)
    return [Outbound.choose(text, *buttons) if buttons else Outbound.say(text)]

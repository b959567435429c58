"""`gridbot wechat-menu`: config/wechat_menu.yaml checked and pushed with wechatpy's menu/create to the fake
WeChat API; a bad file names its entry and pushes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backend.settings import get_settings
from bot.main import cli
from tests.fakes.wechat import FakeWeChatAPI, errcode


@pytest.fixture
def wechat(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWeChatAPI]:
    api = FakeWeChatAPI().start()
    assert isinstance(api, FakeWeChatAPI)
    monkeypatch.setenv("GRIDBOT_WECHAT_API_BASE", api.api_base)
    monkeypatch.setenv("GRIDBOT_WECHAT_APP_SECRET", "wx-secret")
    get_settings.cache_clear()
    yield api
    api.stop()
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output.replace("\n", "")


def test_shipped_menu_is_pushed_with_command_keys(wechat: FakeWeChatAPI) -> None:
    code, out = run("wechat-menu")
    assert code == 0, out
    assert "我要反映 / 我的工单 / 使用说明" in out
    (pushed,) = wechat.sent("menu/create")
    assert pushed == {
        "button": [
            {"type": "click", "name": "我要反映", "key": "cmd:report"},
            {"type": "click", "name": "我的工单", "key": "cmd:mytickets"},
            {"type": "click", "name": "使用说明", "key": "cmd:help"},
        ]
    }
    assert wechat.calls_to("menu/create")[0].query["access_token"].startswith("TOKEN")


def test_menu_with_a_view_entry_in_a_sub_menu(wechat: FakeWeChatAPI, tmp_path: Path) -> None:
    menu = tmp_path / "menu.yaml"
    menu.write_text(
        "button:\n"
        "  - {type: click, name: 我要反映, key: 'cmd:report'}\n"
        "  - name: 更多\n"
        "    sub_button:\n"
        "      - {type: click, name: 使用说明, key: 'cmd:help'}\n"
        "      - {type: view, name: 向群众汇报, url: 'https://grid.example.org/public/reports'}\n",
        encoding="utf-8",
    )
    assert run("wechat-menu", str(menu))[0] == 0
    (pushed,) = wechat.sent("menu/create")
    assert pushed["button"][1]["sub_button"][1] == {
        "type": "view",
        "name": "向群众汇报",
        "url": "https://grid.example.org/public/reports",
    }


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("{type: click, name: 我的工单, key: 'MY_TICKETS'}", "key 'MY_TICKETS' is no command"),
        ("{type: view, name: 网页, url: 'javascript:alert(1)'}", "must be an http(s) address"),
        ("{type: click, name: 一个太长太长的菜单名字, key: 'cmd:help'}", "must be 1 to 16 bytes"),
        ("{type: scancode_push, name: 扫码, key: 'cmd:help'}", "must be click or view"),
    ],
)
def test_bad_menu_is_refused_naming_the_entry(wechat: FakeWeChatAPI, tmp_path: Path, entry: str, problem: str) -> None:
    menu = tmp_path / "menu.yaml"
    menu.write_text(f"button:\n  - {{type: click, name: 我要反映, key: 'cmd:report'}}\n  - {entry}\n", encoding="utf-8")
    code, out = run("wechat-menu", str(menu))
    assert code == 2
    assert "menu.yaml" in out and "button[1]" in out and problem in out
    assert wechat.sent("menu/create") == []


def test_check_only_pushes_nothing(wechat: FakeWeChatAPI) -> None:
    code, out = run("wechat-menu", "--check")
    assert code == 0 and "menu is valid" in out
    assert wechat.sent("menu/create") == []


def test_menu_refused_by_wechat_fails_the_command(wechat: FakeWeChatAPI) -> None:
    wechat.script.push("/cgi-bin/menu/create", errcode(40016, "invalid button size"))
    code, out = run("wechat-menu")
    assert code == 1 and "40016" in out

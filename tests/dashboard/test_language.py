"""Words, not codes: every dashboard label comes from the catalogue in zh and en, chosen by `?lang=` or a cookie."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from backend.dashboard import labels
from backend.dashboard.lang import LANG_COOKIE
from backend.domain.roles import Role, Tier
from backend.domain.tickets import Action
from backend.texts import catalogue, t
from tests.conftest import DEMO_PASSWORD

CHINESE_STATUS_WORDS = [t(f"dash.status.{code}", "zh") for code in labels.STATUSES]
CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b|\b(?:grid|community|street|department)→")
CJK = re.compile(r"[\u4e00-\u9fff]")


class _Text(HTMLParser):
    """The text a reader sees: element text and the titles, placeholders and labels shown to them."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        self.parts += [v for k, v in attrs if k in ("title", "placeholder", "aria-label", "label") and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible(html: str) -> str:
    """The page's visible words."""
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


@pytest.mark.parametrize(
    ("kind", "codes"),
    [
        ("status", labels.STATUSES),
        ("light", labels.LIGHTS),
        ("role", tuple(r.value for r in Role)),
        ("action", tuple(a.value for a in Action)),
        ("tier", tuple(x.value for x in Tier)),
        ("priority", ("normal", "urgent")),
        ("score", ("satisfied", "basically_satisfied", "dissatisfied")),
        ("channel", ("wechat", "wecom", "telegram", "console", "open311")),
    ],
)
def test_every_code_the_dashboard_shows_has_a_word_in_zh_and_en(kind, codes):
    for code in codes:
        entry = catalogue().get(f"dash.{kind}.{code}")
        assert entry is not None, f"dash.{kind}.{code} is missing"
        assert entry["zh"] and entry["en"] and not CJK.search(entry["en"]), f"dash.{kind}.{code}"
        assert labels.label(kind, code, "en") == entry["en"] and labels.label(kind, code) == entry["zh"]


def test_an_unknown_code_reads_as_unknown_rather_than_vanishing():
    assert labels.label("status", "teleported", "en") == "unknown (teleported)"
    assert labels.label("status", None, "en") == "—"


def test_the_queue_in_english_shows_no_chinese_labels_and_no_raw_codes(client, dashboard_login, report):
    ticket = report()
    c = dashboard_login("CD01")
    page = c.get("/dashboard/?lang=en")
    assert page.status_code == 200 and '<html lang="en">' in page.text
    text = visible(page.text)
    assert (
        ticket.number in text
        and '<td class="status">Dispatched<' in page.text
        and "Rubbish piling and collection" in text
    )
    assert not [w for w in CHINESE_STATUS_WORDS if w in text]
    assert not CODE.findall(text)
    assert "工单队列" not in text and "Ticket queue" in text


def test_the_ticket_page_in_english_names_tiers_actions_and_channels_in_words(client, dashboard_login, report):
    ticket = report()
    c = dashboard_login("CD01")
    done = c.post(f"/dashboard/tickets/{ticket.number}/action?lang=en", data={"action": "escalate", "reason": "x"})
    assert "Done%3A%20Escalate" in done.headers["location"]
    text = visible(c.get(f"/dashboard/tickets/{ticket.number}").text)  # the cookie keeps English
    assert "Grid → Community" in text and "WeChat" in text and "Escalate" in text
    assert not CODE.findall(text), CODE.findall(text)
    assert not [w for w in CHINESE_STATUS_WORDS if w in text]
    zh = visible(c.get(f"/dashboard/tickets/{ticket.number}?lang=zh").text)
    assert "网格 → 社区" in zh and "微信公众号" in zh and "待派遣" in zh


@pytest.mark.parametrize("path", ["/dashboard/map", "/dashboard/stats", "/dashboard/desk", "/dashboard/privacy"])
def test_every_page_has_the_switch_and_reads_in_english(client, dashboard_login, report, path):
    report()
    c = dashboard_login("ADM01")
    page = c.get(path, params={"lang": "en"})
    assert page.status_code == 200
    assert 'id="language"' in page.text and "lang=zh" in page.text
    text = visible(page.text)
    assert not [w for w in CHINESE_STATUS_WORDS if w in text]
    assert not CODE.findall(text), CODE.findall(text)


def test_lang_in_the_url_sets_the_cookie_and_later_pages_follow_it(client):
    login = client.get("/dashboard/login?lang=en")
    assert "Staff login" in login.text and client.cookies.get(LANG_COOKIE) == "en"
    wrong = client.post("/dashboard/login", data={"username": "CD01", "password": "nope"})
    assert "Wrong staff code or password" in wrong.text
    assert client.post("/dashboard/login", data={"username": "CD01", "password": DEMO_PASSWORD}).status_code == 303
    c = client
    assert "Ticket queue" in c.get("/dashboard/").text
    c.get("/dashboard/?lang=zh")
    assert "工单队列" in c.get("/dashboard/").text
    assert c.get("/dashboard/?lang=xx").status_code == 200 and client.cookies.get(LANG_COOKIE) == "zh"


def test_the_map_pins_speak_the_page_language(client, dashboard_login, report):
    report()
    c = dashboard_login("CD01")
    pins = c.get("/dashboard/map/tickets.geojson?open=1&lang=en").json()["features"]
    assert pins and pins[0]["properties"]["status"] == "Dispatched"
    assert pins[0]["properties"]["category"] == "Rubbish piling and collection"


def test_the_district_svg_and_the_ticket_pin_map_speak_the_page_language(client, dashboard_login, report):
    ticket = report()
    c = dashboard_login("CD01")
    english = c.get("/dashboard/map.svg?lang=en").text
    assert 'aria-label="Map of the grids in your area"' in english
    assert "(LC010101): 1 open, 0 yellow, 0 red</title>" in english
    assert "在办" not in english
    page = c.get(f"/dashboard/tickets/{ticket.number}?lang=en").text
    assert 'class="pin-map" role="img" aria-label="Where the ticket is"' in page
    chinese = c.get("/dashboard/map.svg?lang=zh").text
    assert "（LC010101）：在办 1 件，黄灯 0，红灯 0</title>" in chinese

"""The dashboard's language switch and staff picker in Chromium, offline.

The switch turns every label of the page into English and back, and the choice follows the operator to the
next page (a cookie); the 改派 picker narrows its list as the operator types, without a reload.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backend.api.app import create_app
from backend.cityconfig import CityConfig
from backend.runtime import Runtime
from backend.services.intake import ReportIn, create_ticket
from backend.services.people import resident_for
from tests.dashboard.livekit import chromium, city_database, login, offline_page, serve


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, base_runtime: Runtime, city: CityConfig
) -> Iterator[tuple[str, str]]:
    """The dashboard with one dispatched ticket; (url, ticket number)."""
    with city_database(tmp_path_factory.mktemp("lang"), base_runtime, city) as db:
        with db.session_factory() as session:
            person = resident_for(session, channel="wechat", external_id="o_lang")
            session.commit()
            ticket = create_ticket(
                session,
                db.runtime,
                ReportIn(
                    text="小区门口垃圾桶满了没人清运",
                    channel="wechat",
                    reporter_id=person.id,
                    area_code="LC010101",
                    category_code="garbage_piling",
                ),
            )
            session.commit()
            number = ticket.number
        with serve(create_app(db.runtime, db.session_factory)) as url:
            yield url, number


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium."""
    with chromium() as b:
        yield b


def _nav(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("nav a").all_inner_texts()]


def test_the_switch_turns_the_pages_into_english_and_back(site: tuple[str, str], browser: Any) -> None:
    url, _ = site
    page, watch = offline_page(browser)
    login(page, url, "ADM01")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert "工单队列" in _nav(page)

    page.click("#language")
    page.wait_for_url("**/dashboard/?lang=en")
    assert "Ticket queue" in _nav(page) and "Statistics" in _nav(page)
    assert "待派遣" not in page.inner_text("body")

    page.click("nav a[href='/dashboard/stats']")  # the choice follows to the next page
    page.wait_for_url(f"{url}/dashboard/stats")
    assert page.get_attribute("html", "lang") == "en" and "Statistics" in _nav(page)

    page.click("#language")
    page.wait_for_url("**/dashboard/stats?lang=zh")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert "统计分析" in _nav(page)
    assert (watch.external, watch.errors) == ([], [])
    page.context.close()


def test_typing_in_the_staff_picker_narrows_the_list(site: tuple[str, str], browser: Any) -> None:
    url, number = site
    page, watch = offline_page(browser)
    login(page, url, "ADM01")
    page.goto(f"{url}/dashboard/tickets/{number}")
    page.evaluate("window.__sameDocument = true")
    for widen in (
        lambda: page.uncheck("#staff-on-duty"),
        lambda: page.select_option("#staff-area", ""),
        lambda: page.select_option("#staff-department", ""),
    ):
        with page.expect_response(lambda r: "/dashboard/staff?" in r.url):
            widen()  # one answer at a time: a newer search replaces (aborts) an older one
    page.wait_for_function("document.querySelectorAll('#assignee-code option').length > 5")
    before = page.locator("#assignee-code option").count()

    with page.expect_response(lambda r: "/dashboard/staff?" in r.url and "q=GW001" in r.url):
        page.fill("#staff-q", "GW001")
    page.wait_for_function("document.querySelectorAll('#assignee-code option').length < 3")
    options = page.locator("#assignee-code option").all_inner_texts()
    assert len(options) < before and options and all("GW001" in o for o in options)
    assert page.evaluate("window.__sameDocument") is True  # htmx swapped the list, no reload
    assert (watch.external, watch.errors) == ([], [])
    page.context.close()

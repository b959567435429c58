"""Live operations centre in Chromium: a report made through the simulator reaches open pages without a reload.

The queue and the map are open in two tabs; a resident reports through /simulator/api/send; within 2 s the
new ticket is a row of the queue and a pin on the map, and the header counters moved — the pages were not
reloaded (a marker set in the page survives). When the SLA job lights a ticket red, a banner (with a sound)
names it until the operator acknowledges it; the acknowledgement holds across a reload.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from backend.api.app import create_app
from backend.cityconfig import CityConfig
from backend.db.models import Ticket
from backend.runtime import Runtime
from backend.services.intake import ReportIn, create_ticket
from backend.services.people import resident_for
from backend.usecases.operations import run_sla_tick
from bot.console.web import router as simulator_router
from tests.dashboard.livekit import Database, chromium, city_database, login, offline_page, serve

REPORT = "怡和花园门口的垃圾桶满了好几天没人清运，臭得不行"
LIVE_WITHIN_MS = 2000


@dataclasses.dataclass
class LiveSite:
    url: str
    db: Database
    slow: str  # a department-tier ticket that will run late


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, base_runtime: Runtime, city: CityConfig) -> Iterator[LiveSite]:
    """The whole service (dashboard + simulator) with one open department-tier ticket."""
    with city_database(tmp_path_factory.mktemp("live"), base_runtime, city) as db:
        with db.session_factory() as session:
            person = resident_for(session, channel="wechat", external_id="o_live")
            session.commit()
            slow = create_ticket(
                session,
                db.runtime,
                ReportIn(
                    text="低保申请交了很久没有消息",
                    channel="wechat",
                    reporter_id=person.id,
                    area_code="LC010201",
                    category_code="social_assistance",
                ),
            )
            session.commit()
            number = slow.number
        app = create_app(db.runtime, db.session_factory)
        app.include_router(simulator_router)
        with serve(app) as url:
            yield LiveSite(url, db, number)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium."""
    with chromium() as b:
        yield b


def _live(page: Any) -> None:
    """Wait until the page's event stream delivered its first pulse, and mark the page (no reload wipes it)."""
    page.wait_for_selector("body[data-live-mark]")
    page.evaluate("window.__sameDocument = true")


def test_a_simulator_report_appears_on_open_pages_within_two_seconds(site: LiveSite, browser: Any) -> None:
    queue, watch = offline_page(browser, viewport={"width": 1400, "height": 900})
    login(queue, site.url, "ADM01")
    _live(queue)
    assert queue.inner_text("[data-live=open-total]") == "1"
    map_page = queue.context.new_page()
    map_page.goto(f"{site.url}/dashboard/map")
    map_page.wait_for_selector("#ops-map[data-loaded]")
    _live(map_page)
    pins_before = int(map_page.get_attribute("#ops-map", "data-pins"))

    resp = httpx.post(f"{site.url}/simulator/api/send", json={"user": "live1", "text": REPORT}, timeout=30)
    assert resp.status_code == 200 and "已受理" in resp.json()["replies"][0]["text"]
    with site.db.session_factory() as session:
        number = session.scalars(select(Ticket.number).order_by(Ticket.id.desc())).first()
    assert number and number != site.slow

    queue.wait_for_selector(f'#queue-table tr[data-number="{number}"]', timeout=LIVE_WITHIN_MS)
    assert queue.evaluate("window.__sameDocument") is True
    queue.wait_for_function("document.querySelector('[data-live=open-total]').textContent === '2'", timeout=1000)
    map_page.wait_for_selector(f'.ticket-pin a[data-number="{number}"]', timeout=LIVE_WITHIN_MS)
    assert int(map_page.get_attribute("#ops-map", "data-pins")) == pins_before + 1
    assert map_page.evaluate("window.__sameDocument") is True
    assert (watch.external, watch.errors) == ([], [])
    queue.context.close()


def test_a_red_light_raises_a_banner_until_acknowledged(site: LiveSite, browser: Any) -> None:
    page, watch = offline_page(browser, viewport={"width": 1400, "height": 900})
    login(page, site.url, "SUP01")
    _live(page)
    assert page.locator("#live-banner").is_hidden()

    with site.db.session_factory() as session:
        due = session.scalars(select(Ticket.due_at).where(Ticket.number == site.slow)).one()
        assert due is not None
        site.db.clock.at = due + timedelta(minutes=5)
        assert run_sla_tick(session, site.db.runtime).lights >= 1

    banner = page.locator("#live-banner")
    banner.wait_for(state="visible", timeout=LIVE_WITHIN_MS)
    assert site.slow in banner.inner_text()
    assert "红灯" in banner.inner_text()
    assert page.evaluate("window.__sameDocument") is True
    page.click("#live-banner [data-live=ack]")
    assert banner.is_hidden()
    login(page, site.url, "SUP01")  # the clock moved past the login's lifetime: a fresh page, a fresh login
    _live(page)
    assert page.inner_text("[data-live=red-total]") == "1"
    assert banner.is_hidden()  # acknowledged in this browser: it stays quiet until something new turns red
    assert (watch.external, watch.errors) == ([], [])
    page.context.close()

"""The dashboard in headless Chromium (Debian's /usr/bin/chromium driven by Playwright) against a live server.

The server is uvicorn in a thread on 127.0.0.1:0 over a migrated file SQLite database (the savepoint
fixtures cannot cross threads). One scenario walks a street dispatcher through the day's work: log in,
filter the queue, open an unclassified ticket, correct its category, dispatch it, watch the map turn
from "one open ticket" to a yellow light as the SLA clock runs, click the grid, download an export.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.api.app import create_app
from backend.dashboard import include_dashboard
from backend.db.migrate import upgrade
from backend.db.models import CategoryCorrection, Ticket
from backend.db.session import make_engine, make_session_factory
from backend.ports import FrozenClock
from backend.runtime import Runtime
from backend.services.intake import ReportIn, create_ticket
from backend.services.people import resident_for
from backend.services.reference import sync_reference, sync_staff
from backend.settings import PROJECT_ROOT, Settings
from backend.usecases.operations import run_sla_tick
from tests.conftest import CONFIG_DIR, DEMO_PASSWORD, START

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
GRID = "LC010101"
POINT = (113.5895, 34.73925)
OTHER_GRID = "LC010102"


class ThreadServer(uvicorn.Server):
    """uvicorn in a background thread (signal handlers stay with the main thread)."""

    def install_signal_handlers(self) -> None:
        return None


@dataclasses.dataclass
class Live:
    """The running server and what the test needs to reach behind it."""

    url: str
    runtime: Runtime
    clock: FrozenClock
    session_factory: sessionmaker[Session]
    unclassified: str
    dispatched: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, base_runtime: Runtime, city: Any) -> Iterator[Live]:
    """A live dashboard over a fresh file database holding two tickets."""
    root = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{root / 'live.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as session:
        sync_reference(session, city)
        sync_staff(session, city, demo_password=DEMO_PASSWORD)
        session.commit()
    clock = FrozenClock(START)
    settings = Settings(
        env="test",
        data_dir=root / "var",
        model_dir=base_runtime.settings.model_dir,
        config_dir=CONFIG_DIR,
        database_url=url,
    )
    # No classifier: a report without a chosen category stays unclassified and waits for a dispatcher.
    runtime = dataclasses.replace(base_runtime, settings=settings, clock=clock, classifier=None)
    with factory() as session:
        person = resident_for(session, channel="wechat", external_id="o_browser")
        session.commit()
        unclassified = create_ticket(
            session,
            runtime,
            ReportIn(
                text="楼下垃圾桶满了好几天没人清运，味道很大",
                channel="wechat",
                reporter_id=person.id,
                lon=POINT[0],
                lat=POINT[1],
            ),
        )
        session.commit()
        dispatched = create_ticket(
            session,
            runtime,
            ReportIn(
                text="路灯坏了晚上很黑",
                channel="wechat",
                reporter_id=person.id,
                area_code=OTHER_GRID,
                category_code="street_lights",
            ),
        )
        session.commit()
        numbers = unclassified.number, dispatched.number
        assert (unclassified.status, dispatched.status) == ("submitted", "dispatched")
    app = create_app(runtime, factory)
    include_dashboard(app)
    server = ThreadServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield Live(f"http://127.0.0.1:{port}", runtime, clock, factory, *numbers)
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.fail(
            "Chromium is not installed: run scripts/test.sh as root, or apt-get install -y chromium chromium-driver"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def _login(page: Any, live: Live, code: str) -> None:
    page.fill("input[name=username]", code)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/dashboard/")


def _queue_numbers(page: Any) -> set[str]:
    return set(
        page.locator("#queue-table tbody tr[data-number]").evaluate_all("rows => rows.map(r => r.dataset.number)")
    )


def _grid_state(page: Any) -> tuple[str, str]:
    cell = page.locator(f'path.cell[data-grid="{GRID}"]')
    return cell.get_attribute("data-state"), cell.evaluate("el => getComputedStyle(el).fill")


def test_dispatcher_works_a_ticket_through_the_dashboard(live: Live, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)

    # Not logged in: the dashboard sends us to the login form; a wrong password is refused.
    page.goto(f"{live.url}/dashboard/")
    assert page.url.endswith("/dashboard/login")
    page.fill("input[name=username]", "SD01")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.inner_text("main")
    _login(page, live, "SD01")
    assert "街道指挥中心" in page.inner_text("#who")
    assert {live.unclassified, live.dispatched} <= _queue_numbers(page)
    _shot(page, "01-queue")

    # Filter the queue to tickets waiting for dispatch (htmx swaps the list and pushes the URL).
    page.select_option("select[name=status]", ["submitted"])
    page.click("#apply-filter")
    page.wait_for_url("**/dashboard/?status=submitted*")
    assert _queue_numbers(page) == {live.unclassified}
    _shot(page, "02-filtered")

    # The map before: the grid has open tickets with green lights only.
    page.goto(f"{live.url}/dashboard/map")
    state_before, fill_before = _grid_state(page)
    assert state_before == "few"
    _shot(page, "03-map-before")

    # Open the unclassified ticket, correct its category, then dispatch it.
    page.goto(f"{live.url}/dashboard/?status=submitted")
    page.click(f"a[href='/dashboard/tickets/{live.unclassified}']")
    page.wait_for_url(f"**/dashboard/tickets/{live.unclassified}")
    assert "待派遣" in page.inner_text("#ticket-status")
    page.select_option("#category-select", "garbage_piling")
    page.click("#correct-category")
    page.wait_for_load_state()
    assert "垃圾堆放与清运" in page.inner_text("#ticket-category")
    assert page.inner_text("#ticket-department").strip() != "—"
    page.click("#do-dispatch")
    page.wait_for_load_state()
    assert "已派遣" in page.inner_text("#ticket-status")
    assert "GW001" in page.inner_text("#ticket-assignee")
    assert page.locator("#timeline li[data-action=correct_category]").count() == 1
    assert page.locator("#timeline li[data-action=dispatch]").count() == 1
    _shot(page, "04-ticket-dispatched")
    with live.session_factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == live.unclassified)).one()
        correction = session.scalars(select(CategoryCorrection).where(CategoryCorrection.ticket_id == ticket.id)).one()
        assert (ticket.status, correction.old_category, correction.new_category) == (
            "dispatched",
            None,
            "garbage_piling",
        )
        due = ticket.due_at
    assert due is not None

    # Time passes: half an hour before the deadline the SLA job lights yellow, and the map shows it.
    live.clock.at = due - timedelta(minutes=30)
    with live.session_factory() as session:
        assert run_sla_tick(session, live.runtime).lights >= 1
    page.goto(f"{live.url}/dashboard/map")
    assert page.url.endswith("/dashboard/login")  # a day later the login has expired
    _login(page, live, "SD01")
    page.goto(f"{live.url}/dashboard/map")
    state_after, fill_after = _grid_state(page)
    assert state_after == "yellow"
    assert fill_after != fill_before
    _shot(page, "05-map-after")

    # Clicking the grid filters the queue to it.
    page.locator(f'a[data-grid="{GRID}"]').first.click()
    page.wait_for_url(f"**/dashboard/?grid={GRID}")
    assert live.unclassified in _queue_numbers(page)

    # Download the filtered list as CSV.
    with page.expect_download() as info:
        page.click("#export-csv")
    target = ARTIFACTS / "dashboard-export.csv"
    info.value.save_as(target)
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert rows[0][0] == "工单编号"
    assert live.unclassified in {r[0] for r in rows[1:]}
    assert all(r[6] for r in rows[1:])  # every row is in a grid (the filter's)
    _shot(page, "06-queue-by-grid")

    # The statistics page draws its charts with the vendored Chart.js (no network).
    page.goto(f"{live.url}/dashboard/stats?created_from=2026-11-01")
    assert page.evaluate("typeof Chart") == "function"
    assert page.evaluate("Object.keys(Chart.instances).length") == 4
    assert page.inner_text("#kpi-total") == "2"
    _shot(page, "07-stats")
    page.close()

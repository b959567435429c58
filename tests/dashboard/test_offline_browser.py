"""Offline-complete: every page loads in Chromium with all non-local requests blocked and no console error.

The live server is the whole service (staff API, dashboard, simulator) on 127.0.0.1; the browser context
aborts and records any request to another host, and the console is watched for errors (a missing file,
a script that failed, a blocked CDN). /docs and /redoc must render the API from the vendored assets.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.api.app import create_app
from backend.cityconfig import CityConfig
from backend.runtime import Runtime
from backend.services.intake import ReportIn, create_ticket
from backend.services.people import resident_for
from bot.console.web import router as simulator_router
from tests.dashboard.livekit import chromium, city_database, login, offline_page, serve, shot

POINT = (113.5895, 34.73925)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, base_runtime: Runtime, city: CityConfig
) -> Iterator[tuple[str, str]]:
    """The service running over a file database with one ticket; yields (base URL, ticket number)."""
    root: Path = tmp_path_factory.mktemp("offline")
    with city_database(root, base_runtime, city) as db:
        with db.session_factory() as session:
            person = resident_for(session, channel="wechat", external_id="o_offline")
            session.commit()
            ticket = create_ticket(
                session,
                db.runtime,
                ReportIn(
                    text="楼下垃圾桶满了好几天没人清运",
                    channel="wechat",
                    reporter_id=person.id,
                    lon=POINT[0],
                    lat=POINT[1],
                    category_code="garbage_piling",
                ),
            )
            session.commit()
            number = ticket.number
        app = create_app(db.runtime, db.session_factory)
        app.include_router(simulator_router)
        with serve(app) as url:
            yield url, number


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium."""
    with chromium() as b:
        yield b


def _visit(page: Any, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    page.wait_for_load_state("networkidle")


def test_every_page_works_with_no_internet(site: tuple[str, str], browser: Any) -> None:
    base, number = site
    page, watch = offline_page(browser, viewport={"width": 1400, "height": 900})
    seen: dict[str, tuple[list[str], list[str]]] = {}

    def check(path: str) -> None:
        seen[path] = (list(watch.external), list(watch.errors))
        watch.clear()

    _visit(page, f"{base}/dashboard/login")
    check("/dashboard/login")
    login(page, base, "ADM01")
    watch.clear()
    for path in (
        "/dashboard/",
        f"/dashboard/tickets/{number}",
        "/dashboard/map",
        "/dashboard/stats",
        "/dashboard/privacy",
    ):
        _visit(page, base + path)
        check(path)

    _visit(page, f"{base}/simulator")
    check("/simulator")

    for path in ("/public/reports", "/public/reports/LC0101", "/public/reports/LC0101?lang=en"):
        _visit(page, base + path)
        check(path)

    _visit(page, f"{base}/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=15000)
    assert page.locator(".swagger-ui .opblock").count() > 10
    assert "gridbot" in page.inner_text(".swagger-ui .info")
    shot(page, "offline-docs")
    check("/docs")

    _visit(page, f"{base}/redoc")
    page.wait_for_selector("redoc .api-content h1", timeout=15000)
    assert "gridbot" in page.inner_text("redoc .api-content h1")
    assert page.locator("redoc [data-section-id^='operation/']").count() > 10
    shot(page, "offline-redoc")
    check("/redoc")

    problems = {path: found for path, found in seen.items() if found != ([], [])}
    assert problems == {}, problems
    page.context.close()


def test_api_reference_pages_name_no_other_host(client: Any) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert "https://" not in resp.text and "http://" not in resp.text, path
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "redoc-logo-mini.svg"):
        assert client.get(f"/docs/assets/{asset}").status_code == 200, asset

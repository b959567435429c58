"""The Leaflet map in Chromium: the city's base layer, grids coloured by lights, pins per ticket, click-through.

Tickets are reported across the district through the real intake; one is left to run past its deadline so
the SLA job lights it red. The browser runs with every non-local request blocked (the map must not need the
internet). A screenshot of the map goes to test-artifacts/map.png (docs/screenshots/map.png is a copy).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from backend.api.app import create_app
from backend.cityconfig import CityConfig
from backend.runtime import Runtime
from backend.services.intake import ReportIn, create_ticket
from backend.services.people import resident_for
from backend.usecases.operations import run_sla_tick
from tests.dashboard.livekit import chromium, city_database, login, offline_page, serve, shot

REPORTS = [
    ("social_assistance", "低保申请交了很久没有消息"),  # department tier: red stays red (no 吹哨 above it)
    ("garbage_piling", "垃圾桶满了没人清运"),
    ("street_lights", "路灯不亮晚上很黑"),
    ("road_damage", "路面有个大坑"),
    ("manhole_cover", "井盖松动踩上去响"),
    ("drainage", "下水道堵了污水外溢"),
    ("illegal_ads", "墙上贴满小广告"),
    ("noise_nuisance", "广场舞音响太吵"),
    ("greenery", "树枝挡住了路"),
]


@dataclasses.dataclass
class MapSite:
    url: str
    red: str  # the overdue ticket (LC010101)
    red_grid: str
    numbers: list[str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, base_runtime: Runtime, city: CityConfig) -> Iterator[MapSite]:
    """The service with tickets across many grids; the first one overdue (red)."""
    grids = [a for a in sorted(city.areas.values(), key=lambda a: a.code) if a.level == "grid"]
    chosen = grids[::3]
    with city_database(tmp_path_factory.mktemp("map"), base_runtime, city, classifier=None) as db:
        numbers: list[str] = []
        with db.session_factory() as session:
            person = resident_for(session, channel="wechat", external_id="o_map")
            session.commit()
            for i, area in enumerate(chosen):
                if i == 1:
                    db.clock.at += timedelta(days=20)  # the first ticket is now long overdue
                category, text = REPORTS[1 + i % (len(REPORTS) - 1)] if i else REPORTS[0]
                point = area.geometry.representative_point()
                ticket = create_ticket(
                    session,
                    db.runtime,
                    ReportIn(
                        text=f"{text}（{i}）",
                        channel="wechat",
                        reporter_id=person.id,
                        lon=point.x + (i % 3 - 1) * 0.0005,
                        lat=point.y + (i % 2) * 0.0004,
                        category_code=category,
                    ),
                )
                session.commit()
                numbers.append(ticket.number)
            assert run_sla_tick(session, db.runtime).lights >= 1
        app = create_app(db.runtime, db.session_factory)
        with serve(app) as url:
            yield MapSite(url, numbers[0], chosen[0].code, numbers)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium."""
    with chromium() as b:
        yield b


def _open_map(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#ops-map[data-loaded]")


def test_map_shows_a_pin_per_ticket_and_opens_the_ticket(site: MapSite, browser: Any) -> None:
    page, watch = offline_page(browser, viewport={"width": 1400, "height": 1000})
    login(page, site.url, "ADM01")
    _open_map(page, f"{site.url}/dashboard/map")

    # Every open ticket is on the map; the base layer (roads, water, landmarks) is drawn from our GeoJSON.
    assert page.get_attribute("#ops-map", "data-pins") == str(len(site.numbers))
    assert page.inner_text("#pin-total") == str(len(site.numbers))
    assert page.locator(".leaflet-pane path.leaflet-interactive").count() > 72
    pinned = set(page.locator(".ticket-pin a[data-number]").evaluate_all("a => a.map(x => x.dataset.number)"))
    assert pinned == set(site.numbers)  # spread over the district, none clustered at the fitted zoom

    # The overdue ticket's pin and grid are red; the others green.
    red_pin = page.locator(f'.ticket-pin a[data-number="{site.red}"]')
    assert red_pin.get_attribute("data-light") == "red"
    assert page.locator('.ticket-pin a[data-light="red"]').count() == 1
    assert page.get_attribute(f'path.cell[data-grid="{site.red_grid}"]', "data-state") == "red"
    shot(page, "map")

    # The heat layer draws on a canvas when switched on.
    page.get_by_label("热力图").check()
    page.wait_for_selector("canvas.leaflet-heatmap-layer")

    # Clicking a grid tells its counts and links to its queue.
    page.get_by_label("热力图").uncheck()
    page.locator(f'path.cell[data-grid="{site.red_grid}"]').click(position={"x": 5, "y": 5}, force=True)
    assert "红灯 1" in page.inner_text(".leaflet-popup-content")

    # Filters: only red lights.
    _open_map(page, f"{site.url}/dashboard/map?light=red")
    assert page.get_attribute("#ops-map", "data-pins") == "1"

    # Clicking a pin opens the ticket.
    page.locator(f'.ticket-pin a[data-number="{site.red}"]').click()
    page.wait_for_url(f"**/dashboard/tickets/{site.red}")
    assert site.red in page.inner_text("main")
    assert (watch.external, watch.errors) == ([], [])
    page.context.close()


def test_pins_cluster_when_zoomed_out_and_keep_the_worst_light(site: MapSite, browser: Any) -> None:
    page, watch = offline_page(browser, viewport={"width": 900, "height": 700})
    login(page, site.url, "ADM01")
    _open_map(page, f"{site.url}/dashboard/map")
    page.evaluate("opsMap.map.setZoom(12, {animate: false})")
    page.wait_for_selector(".light-cluster")
    clusters = page.locator(".light-cluster").evaluate_all("c => c.map(x => x.className)")
    assert any("light-red" in c for c in clusters)
    assert (watch.external, watch.errors) == ([], [])
    page.context.close()

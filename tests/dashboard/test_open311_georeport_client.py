"""The unmodified `georeport` client library (PyPI georeport 0.3.1) reading /open311/v2 of a live server.

georeport speaks GeoReport v2 with `requests` and `xmltodict` and has no way to be pointed at an ASGI app,
so the app runs in uvicorn on 127.0.0.1:0 over a migrated file SQLite database (the savepoint fixtures cannot
cross threads). The library only reads (services, definitions, requests); POSTs are driven with the spec's
example request in tests/dashboard/test_open311_spec.py.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import uvicorn
from georeport import GeoReport

from backend.api.app import create_app
from backend.dashboard import include_dashboard
from backend.db.migrate import upgrade
from backend.db.session import make_engine, make_session_factory
from backend.ports import FrozenClock
from backend.runtime import Runtime
from backend.services.intake import ReportIn, create_ticket
from backend.services.reference import sync_reference, sync_staff
from backend.settings import Settings
from tests.conftest import CONFIG_DIR, DEMO_PASSWORD, START


class ThreadServer(uvicorn.Server):
    """uvicorn in a background thread (signal handlers stay with the main thread)."""

    def install_signal_handlers(self) -> None:
        return None


@dataclasses.dataclass
class Served:
    url: str
    numbers: tuple[str, str]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, base_runtime: Runtime, city: Any) -> Iterator[Served]:
    """/open311/v2 on a live server over a fresh database holding a plain and an urgent lift request."""
    root = tmp_path_factory.mktemp("open311")
    url = f"sqlite:///{root / 'open311.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    model_dir = base_runtime.settings.model_dir
    settings = Settings(env="test", data_dir=root / "var", model_dir=model_dir, config_dir=CONFIG_DIR, database_url=url)
    runtime = dataclasses.replace(base_runtime, settings=settings, clock=FrozenClock(START))
    with factory() as session:
        sync_reference(session, city)
        sync_staff(session, city, demo_password=DEMO_PASSWORD)
        session.commit()
        numbers = []
        for text, code in (("建设路12号门口垃圾堆了三天", "garbage_piling"), ("电梯困人了", "elevator")):
            report = ReportIn(text=text, channel="open311", source="open311", area_code="LC010101", category_code=code)
            numbers.append(create_ticket(session, runtime, report).number)
        session.commit()
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
    yield Served(f"http://127.0.0.1:{port}/open311/v2", (numbers[0], numbers[1]))
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client_lists_services_and_reads_a_definition(served: Served, fmt: str) -> None:
    client = GeoReport(served.url, jurisdiction="demo.gridbot", output_format=fmt)
    services = client.get_service_list()
    by_code = {s["service_code"]: s for s in services}
    assert str(by_code["elevator"]["metadata"]).lower() == "true"
    assert str(by_code["garbage_piling"]["metadata"]).lower() == "false"
    definition = client.get_service_definition("manhole_cover")
    assert definition["service_code"] == "manhole_cover"
    attributes = definition["attributes"] if fmt == "json" else definition["attributes"]["attribute"]
    attribute = attributes[0] if isinstance(attributes, list) else attributes
    assert attribute["code"] == "condition"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client_reads_requests_and_one_request(served: Served, fmt: str) -> None:
    client = GeoReport(served.url, jurisdiction="demo.gridbot", output_format=fmt)
    garbage, lift = served.numbers
    listed = client.get_service_requests(start_date="2020-01-01T00:00:00Z", end_date="2030-01-01T00:00:00Z")
    assert {r["service_request_id"] for r in listed} == {garbage, lift}
    one = client.get_service_request(garbage)
    assert one["service_code"] == "garbage_piling" and one["status"] == "open"
    assert one["address"] == "丰产路社区, 文化路街道"  # chosen area only: no road number was given as a place
    only_lift = client.get_service_requests(service_code="elevator")
    only_lift = only_lift if isinstance(only_lift, list) else [only_lift]
    assert [r["service_request_id"] for r in only_lift] == [lift]


def test_georeport_client_sees_errors_as_http_errors(served: Served) -> None:
    client = GeoReport(served.url, jurisdiction="elsewhere", output_format="json")
    with pytest.raises(requests.HTTPError) as raised:
        client.get_service_list()
    assert raised.value.response.status_code == 404
    assert raised.value.response.json() == [{"code": 404, "description": "unknown jurisdiction_id 'elsewhere'"}]

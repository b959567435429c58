"""A city brings its own data: `gridbot import-city DIR` validates it, and routing, staff and the map use it.

The second city (tests/backend/data/riverside, written by make_riverside.py) is shaped unlike the demo city:
sheared grids without micro-grids, five departments of its own, its own staff codes.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from backend.api.app import create_app
from backend.cityconfig import ConfigError, load_city_dir
from backend.dashboard.geo import basemap_json
from backend.db.models import Area, Staff, Ticket
from backend.db.session import make_engine, make_session_factory
from backend.domain.routing import GridIndex
from backend.domain.tickets import Action
from backend.runtime import Runtime, build_runtime
from backend.services.actors import SYSTEM
from backend.services.intake import ReportIn, create_ticket
from backend.services.reference import sync_reference, sync_staff
from backend.services.workflow import apply_action
from backend.settings import PROJECT_ROOT, Settings, get_settings
from bot.main import cli

RIVERSIDE = Path(__file__).parent / "data" / "riverside"
CONFIG = PROJECT_ROOT / "config"
# Inside 柳岸社区第2网格 (BJ010202): local (0.02, 0.022) sheared by 0.4 × y.
PIN = (120.20 + 0.02 + 0.4 * 0.022, 30.20 + 0.022)


def riverside_runtime(runtime: Runtime) -> Runtime:
    """The test runtime with the riverside city in place of the demo city."""
    from nlp.places import Gazetteer

    city = load_city_dir(RIVERSIDE, base_dir=CONFIG)
    return dataclasses.replace(
        runtime,
        city=city,
        grids=GridIndex.build(city.areas.values()),
        places=Gazetteer.from_geojson(RIVERSIDE / "city.geojson"),
    )


def test_a_report_in_the_imported_city_is_routed_to_its_grid_staff_and_department(session: Session, runtime):
    river = riverside_runtime(runtime)
    sync_reference(session, river.city)
    sync_staff(session, river.city, demo_password=None)
    ticket = create_ticket(
        session,
        river,
        ReportIn(text="楼下垃圾桶满了好几天", channel="wechat", lon=PIN[0], lat=PIN[1], category_code="garbage_piling"),
    )
    assert (ticket.grid_code, ticket.community_code, ticket.street_code) == ("BJ010202", "BJ0102", "BJ01")
    assert ticket.department_code == "city_services" and ticket.status == "dispatched"
    assert session.get(Staff, ticket.assignee_id).code == "BJ-GW04"
    apply_action(session, river, ticket, Action.escalate, SYSTEM, reason="网格内无法处置")
    assert session.get(Staff, ticket.assignee_id).code == "BJ-CD0102"

    by_words = create_ticket(
        session, river, ReportIn(text="长河新村门口路灯不亮", channel="wechat", category_code="street_lights")
    )
    assert by_words.grid_code == "BJ020101" and by_words.street_code == "BJ02"


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'city.db'}")
    monkeypatch.setenv("GRIDBOT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GRIDBOT_MODEL_DIR", str(PROJECT_ROOT / "var" / "test-models"))
    monkeypatch.setenv("GRIDBOT_CITY_CHECK_SECONDS", "0")
    get_settings.cache_clear()
    settings = get_settings()
    yield settings
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_a_running_server_routes_in_the_imported_city_without_a_restart(cli_env: Settings, classifier):
    assert run("db", "upgrade")[0] == 0
    assert run("load-demo", "--no-history")[0] == 0
    assert run("create-admin", "--code", "boss", "--password", "s3cret-pass")[0] == 0
    runtime = build_runtime(cli_env, classifier=classifier)  # the server starts with the demo city
    app = create_app(runtime, make_session_factory(make_engine(cli_env.database_url)))
    with TestClient(app) as client:
        token = client.post("/api/auth/token", data={"username": "boss", "password": "s3cret-pass"}).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        where = {"lon": PIN[0], "lat": PIN[1]}
        assert client.get("/api/geo/locate", params=where, headers=auth).json()["grid_code"] is None

        code, out = run("import-city", str(RIVERSIDE))
        assert code == 0 and "13 areas (7 grids)" in out and "19 staff" in out, out

        assert client.get("/api/geo/locate", params=where, headers=auth).json()["grid_code"] == "BJ010202"
        made = client.post(
            "/api/tickets",
            json={"text": "楼下垃圾桶满了好几天", "category_code": "garbage_piling", **where},
            headers=auth,
        ).json()
        assert (made["grid_code"], made["department_code"], made["assignee"]) == (
            "BJ010202",
            "city_services",
            "BJ-GW04",
        )
    with make_session_factory(make_engine(cli_env.database_url))() as session:
        active = set(session.scalars(select(Staff.code).where(Staff.active.is_(True))))
        assert "boss" in active and "GW001" not in active and "BJ-GW04" in active
    assert (cli_env.data_dir / "city" / "city.json").is_file()
    # A fresh process (the worker, a restart) starts with the imported city.
    assert build_runtime(cli_env, classifier=classifier).grid_of("BJ010202") == "BJ010202"


def _broken_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    city = tmp_path / "broken"
    shutil.copytree(RIVERSIDE, city)
    path = city / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return city


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        (
            "staff.csv",
            "BJ-GW03,网格员03,gridworker",
            "BJ-GW03,网格员03,gridwork",
            "staff.csv: entry 'line 14, BJ-GW03': field 'role'",
        ),
        (
            "staff.csv",
            "gridworker,BJ010201",
            "gridworker,BJ9999",
            "entry 'line 14, BJ-GW03': field 'scope': unknown scope 'BJ9999'",
        ),
        ("city.geojson", '"parent": "BJ0101"', '"parent": "BJ0201"', "city.geojson: entry 'BJ010101'"),
        ("city.geojson", '"level": "grid"', '"level": "gird"', "city.geojson: entry 'BJ010101': field 'level'"),
        (
            "responsibilities.yaml",
            "department: city_services",
            "department: sanitation",
            "responsibilities.yaml: entry 'garbage_piling': unknown department 'sanitation'",
        ),
    ],
)
def test_import_city_names_file_entry_and_field_and_writes_nothing(cli_env, tmp_path, name, old, new, expected):
    run("db", "upgrade")
    city = _broken_copy(tmp_path, name, old, new)
    code, out = run("import-city", str(city))
    assert code == 2 and expected.replace(" ", "") in out.replace(" ", ""), out  # rich wraps long paths
    with make_session_factory(make_engine(cli_env.database_url))() as session:
        assert session.scalar(select(func.count(Area.code))) == 0
        assert session.scalar(select(func.count(Ticket.id))) == 0
    assert not (cli_env.data_dir / "city").exists()


def test_a_city_directory_needs_its_files(tmp_path):
    city = tmp_path / "partial"
    shutil.copytree(RIVERSIDE, city)
    (city / "departments.yaml").unlink()
    with pytest.raises(ConfigError, match=r"departments\.yaml: missing"):
        load_city_dir(city, base_dir=CONFIG)


def test_the_demo_city_is_a_city_directory():
    city = load_city_dir(CONFIG, base_dir=CONFIG)
    assert len(city.areas) == 115 and len(city.staff) == 125


RIVER_LAYER = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"kind": "water", "name": "柳河"},
            "geometry": {"type": "LineString", "coordinates": [[120.20, 30.20], [120.26, 30.25]]},
        }
    ],
}


def test_the_imported_city_brings_its_own_base_map(cli_env: Settings, tmp_path):
    run("db", "upgrade")
    city = tmp_path / "riverside"
    shutil.copytree(RIVERSIDE, city)
    demo_layers = json.loads(basemap_json(cli_env))["features"]
    assert demo_layers, "the demo city ships a base map"

    code, out = run("import-city", str(city))  # no basemap.geojson: the demo city's roads must not show
    assert code == 0, out
    assert json.loads(basemap_json(cli_env))["features"] == []

    (city / "basemap.geojson").write_text(json.dumps(RIVER_LAYER, ensure_ascii=False), encoding="utf-8")
    code, out = run("import-city", str(city))
    assert code == 0, out
    assert [f["properties"]["name"] for f in json.loads(basemap_json(cli_env))["features"]] == ["柳河"]


def test_a_broken_base_map_is_refused_naming_the_feature(cli_env: Settings, tmp_path):
    run("db", "upgrade")
    city = tmp_path / "riverside"
    shutil.copytree(RIVERSIDE, city)
    broken = json.loads(json.dumps(RIVER_LAYER))
    broken["features"][0]["geometry"] = {"type": "LineString", "coordinates": [[120.2]]}
    (city / "basemap.geojson").write_text(json.dumps(broken), encoding="utf-8")
    code, out = run("import-city", str(city))
    expected = "basemap.geojson: entry 'feature #1': invalid geometry"
    assert code == 2 and expected.replace(" ", "") in out.replace(" ", ""), out  # rich wraps long paths
    assert not (cli_env.data_dir / "city").exists()

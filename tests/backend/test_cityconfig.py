"""The city configuration loader: the shipped config loads, every kind of bad file is named and refused."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from backend.cityconfig import ConfigError, load_areas, load_city_config
from backend.settings import PROJECT_ROOT

CONFIG_DIR = PROJECT_ROOT / "config"
MINI_CITY = Path(__file__).parent / "data" / "mini_city.geojson"
MINI_STAFF = {"GW1", "GW2", "GL1"}


# ---------------------------------------------------------------- the shipped configuration


@pytest.fixture(scope="module")
def city():  # type: ignore[no-untyped-def]
    return load_city_config(CONFIG_DIR)


def test_shipped_config_has_departments_taxonomy_and_calendar(city) -> None:  # type: ignore[no-untyped-def]
    assert {"housing", "urban_management", "community", "public_security"} <= set(city.departments)
    assert len(city.categories) >= 14 and len(city.subcategories) >= 50
    lights = city.subcategories["street_lights"]
    assert lights.category == "municipal_facilities"
    assert lights.department in city.departments
    assert 0 < lights.hours_urgent <= lights.hours_normal
    for cat in city.categories.values():
        assert all(city.subcategories[s].category == cat.code for s in cat.subcategories)
    assert city.calendar.workdays == frozenset(range(5))
    assert city.calendar.working_hours[0][0].hour == 8


def test_shipped_city_meets_the_demo_sizes(city) -> None:  # type: ignore[no-untyped-def]
    levels: dict[str, list[Any]] = {}
    for area in city.areas.values():
        levels.setdefault(area.level, []).append(area)
    assert len(levels["district"]) == 1
    assert len(levels["street"]) >= 3 and len(levels["community"]) >= 10 and len(levels["grid"]) >= 60
    assert {a.special_kind for a in levels["special"]} >= {
        "school",
        "hospital",
        "market",
        "station",
        "industrial_park",
    }
    assert all(50 <= m.households <= 300 for m in levels["microgrid"])
    assert len({m.parent for m in levels["microgrid"]}) >= 3


def test_every_special_grid_overlaps_ordinary_grids(city) -> None:  # type: ignore[no-untyped-def]
    grids = [a for a in city.areas.values() if a.level == "grid"]
    for special in (a for a in city.areas.values() if a.level == "special"):
        overlapped = [g for g in grids if g.geometry.intersection(special.geometry).area > 0]
        assert overlapped, special.code


def test_every_grid_has_estates_roads_and_door_numbers(city) -> None:  # type: ignore[no-untyped-def]
    for grid in (a for a in city.areas.values() if a.level == "grid"):
        estates = [a for a in grid.aliases if a.kind == "estate"]
        assert 1 <= len(estates) <= 3, grid.code
        assert any(a.kind == "road" for a in grid.aliases), grid.code
        assert grid.address_ranges, grid.code


def test_a_road_crosses_several_grids_with_different_door_numbers(city) -> None:  # type: ignore[no-untyped-def]
    ranges: dict[str, list[tuple[int, int]]] = {}
    for area in city.areas.values():
        for rng in area.address_ranges:
            ranges.setdefault(rng.road, []).append((rng.start, rng.end))
    assert any(len(spans) >= 3 and len(set(spans)) == len(spans) for spans in ranges.values())


def test_every_grid_has_a_gridworker_or_a_grid_leader_to_fall_back_to(city) -> None:  # type: ignore[no-untyped-def]
    without = []
    for grid in (a for a in city.areas.values() if a.level == "grid"):
        if not city.staff_for(grid.code, "gridworker"):
            without.append(grid.code)
            assert city.staff_for(grid.parent, "grid_leader"), grid.code
    assert 2 <= len(without) <= 3


def test_staff_cover_every_role_and_department(city) -> None:  # type: ignore[no-untyped-def]
    roles = {s.role for s in city.staff.values()}
    assert roles == {
        "gridworker",
        "grid_leader",
        "community_dispatcher",
        "street_dispatcher",
        "department_handler",
        "supervisor",
        "admin",
    }
    handled = {s.scope for s in city.staff.values() if s.role == "department_handler"}
    assert handled == set(city.departments)
    assert any(s.telegram_user_id for s in city.staff.values())
    for area in city.areas.values():
        assert set(area.staff) <= set(city.staff)


def test_ancestors_and_children_walk_the_hierarchy(city) -> None:  # type: ignore[no-untyped-def]
    micro = next(a for a in city.areas.values() if a.level == "microgrid")
    chain = city.ancestors(micro.code)
    assert [city.areas[c].level for c in chain] == ["grid", "community", "street", "district"]
    assert micro.code in city.children(micro.parent)
    assert city.grid_of(micro.code) == micro.parent
    assert city.ancestor_at(micro.code, "street") == chain[2]
    district = chain[-1]
    assert city.ancestors(district) == []
    assert all(city.areas[c].level == "street" for c in city.children(district))


def test_shipped_demo_city_is_what_the_generator_writes(tmp_path: Path) -> None:
    shutil.copy(CONFIG_DIR / "departments.yaml", tmp_path / "departments.yaml")
    subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "scripts" / "make_demo_city.py"),
            "--config-dir",
            str(tmp_path),
            "--no-check",
        ],
        check=True,
        capture_output=True,
    )
    for name in ("demo_city.geojson", "staff.csv"):
        assert (tmp_path / name).read_bytes() == (CONFIG_DIR / name).read_bytes(), name


# ---------------------------------------------------------------- bad YAML and CSV


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def _edit_yaml(path: Path, change: Callable[[Any], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _resp(code: str, **changes: Any) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        entry = data["responsibilities"][code]
        for key, value in changes.items():
            if value is None:
                del entry[key]
            else:
                entry[key] = value

    return change


YAML_CASES: list[tuple[str, str, Callable[[Any], None], str | None, str]] = [
    (
        "unknown department",
        "responsibilities.yaml",
        _resp("street_lights", department="urbn"),
        "street_lights",
        "unknown department 'urbn'",
    ),
    ("bad tier", "responsibilities.yaml", _resp("elevator", tier="county"), "elevator", "bad tier 'county'"),
    (
        "missing field",
        "responsibilities.yaml",
        _resp("drainage", tier=None),
        "drainage",
        "missing field 'tier'",
    ),
    (
        "unknown field",
        "responsibilities.yaml",
        _resp("drainage", teir="grid"),
        "drainage",
        "unknown field 'teir'",
    ),
    (
        "zero hours",
        "responsibilities.yaml",
        _resp("fraud", hours={"normal": 0, "urgent": 0}),
        "fraud",
        "hours must be positive",
    ),
    (
        "urgent above normal",
        "responsibilities.yaml",
        _resp("fraud", hours={"normal": 4, "urgent": 8}),
        "fraud",
        "urgent hours 8 exceed normal hours 4",
    ),
    (
        "responsibility for unknown subcategory",
        "responsibilities.yaml",
        lambda d: d["responsibilities"].update(ufo_sighting=dict(d["responsibilities"]["fraud"])),
        "ufo_sighting",
        "unknown subcategory",
    ),
    (
        "subcategory without responsibility",
        "responsibilities.yaml",
        lambda d: d["responsibilities"].pop("telecom"),
        "telecom",
        "has no responsibility entry",
    ),
    (
        "duplicate department",
        "departments.yaml",
        lambda d: d["departments"].append(dict(d["departments"][0])),
        "housing",
        "duplicate department code",
    ),
    (
        "department without name",
        "departments.yaml",
        lambda d: d["departments"][1].pop("name"),
        "environment",
        "missing field 'name'",
    ),
    (
        "duplicate subcategory",
        "taxonomy.yaml",
        lambda d: d["categories"][1]["subcategories"].append(dict(d["categories"][0]["subcategories"][0])),
        "garbage_piling",
        "duplicate subcategory code",
    ),
    (
        "duplicate category",
        "taxonomy.yaml",
        lambda d: d["categories"].append(
            {**d["categories"][0], "subcategories": [{"code": "extra_sub", "name": "额外"}]}
        ),
        "city_appearance",
        "duplicate category code",
    ),
    (
        "unknown weekday",
        "calendar.yaml",
        lambda d: d["workdays"].append("caturday"),
        "workdays",
        "unknown weekday 'caturday'",
    ),
]


@pytest.mark.parametrize(
    ("file", "change", "entry", "problem"),
    [case[1:] for case in YAML_CASES],
    ids=[case[0] for case in YAML_CASES],
)
def test_bad_yaml_entry_is_refused_naming_file_entry_and_problem(
    config_dir: Path, file: str, change: Callable[[Any], None], entry: str, problem: str
) -> None:
    _edit_yaml(config_dir / file, change)
    with pytest.raises(ConfigError) as caught:
        load_city_config(config_dir)
    err = caught.value
    assert err.file.endswith(file) and err.entry == entry and problem in err.problem
    assert str(err).startswith(f"{err.file}: entry '{entry}': ")


def test_yaml_syntax_error_names_the_line(config_dir: Path) -> None:
    path = config_dir / "taxonomy.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(5, "  - code: broken\n    name: [unclosed")
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"taxonomy\.yaml: invalid YAML at line \d+"):
        load_city_config(config_dir)


def test_duplicate_key_in_responsibility_list_is_refused(config_dir: Path) -> None:
    path = config_dir / "responsibilities.yaml"
    text = path.read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith("  elevator:"))
    path.write_text(text + line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_city_config(config_dir)
    assert caught.value.entry == "elevator" and "duplicate key" in caught.value.problem


def _edit_staff(config_dir: Path, code: str, column: str, value: str) -> None:
    path = config_dir / "staff.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    for i, line in enumerate(lines):
        cells = line.split(",")
        if cells[0] == code:
            cells[header.index(column)] = value
            lines[i] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_unknown_staff_role_is_refused(config_dir: Path) -> None:
    _edit_staff(config_dir, "GW001", "role", "janitor")
    with pytest.raises(
        ConfigError, match=r"staff\.csv: entry 'line 2, GW001': field 'role': unknown staff role 'janitor'"
    ):
        load_city_config(config_dir)


def test_staff_scope_must_exist_and_fit_the_role(config_dir: Path) -> None:
    _edit_staff(config_dir, "DH01", "scope", "LC010101")
    with pytest.raises(
        ConfigError, match=r"entry 'line \d+, DH01': field 'scope': role department_handler needs a scope of department"
    ):
        load_city_config(config_dir)
    _edit_staff(config_dir, "DH01", "scope", "nowhere")
    with pytest.raises(ConfigError, match=r"entry 'line \d+, DH01': field 'scope': unknown scope 'nowhere'"):
        load_city_config(config_dir)


def test_feature_staff_must_be_in_staff_csv(config_dir: Path) -> None:
    path = config_dir / "staff.csv"
    path.write_text(
        "".join(ln for ln in path.read_text(encoding="utf-8").splitlines(keepends=True) if not ln.startswith("GW003,")),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"demo_city\.geojson: entry 'LC\d+': staff code 'GW003' is not in staff"):
        load_city_config(config_dir)


def test_feature_staff_must_be_scoped_to_that_feature(config_dir: Path) -> None:
    _edit_staff(config_dir, "GW001", "scope", "LC010102")
    with pytest.raises(ConfigError) as caught:
        load_city_config(config_dir)
    err = caught.value
    assert err.file.endswith("demo_city.geojson") and err.entry == "LC010101"
    assert "staff 'GW001' is scoped to 'LC010102'" in err.problem


# ---------------------------------------------------------------- bad GeoJSON (a small fixture city)


@pytest.fixture
def mini() -> dict[str, Any]:
    return json.loads(MINI_CITY.read_text(encoding="utf-8"))


def _feature(data: dict[str, Any], code: str) -> dict[str, Any]:
    return next(f for f in data["features"] if f["properties"]["code"] == code)


def _box(x0: float, y0: float, x1: float, y1: float) -> list[list[list[float]]]:
    return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]


def _load(tmp_path: Path, data: dict[str, Any]) -> Any:
    path = tmp_path / "city.geojson"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return load_areas(path, staff_codes=MINI_STAFF)


def test_mini_city_loads_with_touching_grids_and_an_overlapping_special(tmp_path: Path, mini: dict[str, Any]) -> None:
    areas = _load(tmp_path, mini)
    assert areas["G1"].geometry.touches(areas["G2"].geometry)
    assert areas["Z1"].geometry.intersection(areas["G1"].geometry).area > 0


def _grid2_overlaps_grid1(d: dict[str, Any]) -> None:
    _feature(d, "G2")["geometry"]["coordinates"] = _box(113.601, 34.75, 113.604, 34.752)


def _unclosed(d: dict[str, Any]) -> None:
    _feature(d, "G2")["geometry"]["coordinates"][0].pop()
    _feature(d, "G2")["geometry"]["coordinates"][0].append([113.602, 34.7505])


def _bowtie(d: dict[str, Any]) -> None:
    _feature(d, "G2")["geometry"]["coordinates"] = [
        [[113.602, 34.75], [113.604, 34.752], [113.604, 34.75], [113.602, 34.752], [113.602, 34.75]]
    ]


def _set(code: str, **props: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        _feature(d, code)["properties"].update(props)

    return change


def _drop(code: str, key: str) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        _feature(d, code)["properties"].pop(key)

    return change


def _microgrid_outside(d: dict[str, Any]) -> None:
    _feature(d, "G1M2")["geometry"]["coordinates"] = _box(113.601, 34.75, 113.6025, 34.752)


def _microgrids_overlap(d: dict[str, Any]) -> None:
    _feature(d, "G1M2")["geometry"]["coordinates"] = _box(113.6005, 34.75, 113.602, 34.752)


def _duplicate_code(d: dict[str, Any]) -> None:
    twin = copy.deepcopy(_feature(d, "G1M1"))
    d["features"].append(twin)


GEOJSON_CASES: list[tuple[str, Callable[[dict[str, Any]], None], str | None, str]] = [
    ("unclosed ring", _unclosed, "G2", "unclosed ring"),
    ("self-intersecting polygon", _bowtie, "G2", "invalid polygon: Self-intersection"),
    ("overlapping grids", _grid2_overlaps_grid1, "G2", "grid overlaps grid 'G1'"),
    ("overlapping micro-grids", _microgrids_overlap, "G1M2", "microgrid overlaps microgrid 'G1M1'"),
    ("micro-grid outside its grid", _microgrid_outside, "G1M2", "not inside its parent grid 'G1'"),
    ("unknown parent", _set("G2", parent="C9"), "G2", "unknown parent 'C9'"),
    ("grid under a street", _set("G2", parent="S1"), "G2", "a grid needs a community parent"),
    ("special under a grid", _set("Z1", parent="G1"), "Z1", "a special needs a community or street parent"),
    ("bad level", _set("G2", level="gird"), "G2", "field 'level'"),
    ("missing level", _drop("G2", "level"), "G2", "missing field 'level'"),
    ("unknown property", _set("G2", househlods=3), "G2", "unknown field 'househlods'"),
    ("duplicate code", _duplicate_code, "G1M1", "duplicate area code"),
    (
        "estate in two grids",
        _set("G2", aliases=[{"name": "阳光花园", "kind": "estate"}]),
        "G2",
        "alias '阳光花园' already belongs to 'G1'",
    ),
    ("unknown staff", _set("G2", staff=["GW99"]), "G2", "staff code 'GW99' is not in staff.csv"),
    (
        "overlapping door numbers",
        _set("G2", address_ranges=[{"road": "建设路", "start": 90, "end": 150}]),
        "G2",
        "overlaps 1-99号 of 'G1'",
    ),
    (
        "building of a foreign estate",
        _set("G1M1", buildings=[{"estate": "锦绣苑", "numbers": [1]}]),
        "G1M1",
        "not an estate of grid 'G1'",
    ),
]


@pytest.mark.parametrize(
    ("change", "entry", "problem"),
    [case[1:] for case in GEOJSON_CASES],
    ids=[case[0] for case in GEOJSON_CASES],
)
def test_bad_geojson_is_refused_naming_file_entry_and_problem(
    tmp_path: Path, mini: dict[str, Any], change: Callable[[dict[str, Any]], None], entry: str, problem: str
) -> None:
    change(mini)
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, mini)
    err = caught.value
    assert err.file.endswith("city.geojson") and err.entry == entry and problem in err.problem, str(err)


def test_geojson_that_is_not_a_feature_collection_is_refused(tmp_path: Path, mini: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"city\.geojson: not a GeoJSON FeatureCollection"):
        _load(tmp_path, mini["features"][0])


def test_broken_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "city.geojson"
    path.write_text('{"type": "FeatureCollection",\n "features": [,]}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"invalid JSON at line 2"):
        load_areas(path)


def test_bad_city_file_stops_the_whole_load_naming_it(config_dir: Path) -> None:
    data = json.loads((config_dir / "demo_city.geojson").read_text(encoding="utf-8"))
    grids = [f for f in data["features"] if f["properties"]["level"] == "grid"]
    grids[1]["geometry"] = copy.deepcopy(grids[0]["geometry"])
    (config_dir / "demo_city.geojson").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_city_config(config_dir)
    assert caught.value.file.endswith("demo_city.geojson")
    assert "grid overlaps grid" in caught.value.problem

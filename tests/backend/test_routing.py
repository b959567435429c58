"""Routing: a point to the most specific area through GridIndex (named places: nlp.places, the gazetteer)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon, box

from backend.cityconfig import AddressRange, Alias, Area, BuildingSet, CityConfig, load_city_config
from backend.domain.routing import GridIndex
from backend.settings import PROJECT_ROOT

# A small hand-made city: two grids side by side (G1 west, G2 east), G1 split into two
# micro-grids, a special grid straddling the G1/G2 border, and an L-shaped grid G3 north of them.
AREAS = [
    Area("D", "测试区", "district", None, box(0, 0, 4, 4)),
    Area("C1", "测试社区", "community", "D", box(0, 0, 4, 4)),
    Area(
        "G1",
        "测试社区第一网格",
        "grid",
        "C1",
        box(0, 0, 2, 2),
        aliases=(Alias("阳光花园", "estate"), Alias("纺织厂家属院", "compound"), Alias("建设路", "road")),
        address_ranges=(AddressRange("建设路", 1, 99),),
    ),
    Area(
        "G2",
        "测试社区第二网格",
        "grid",
        "C1",
        box(2, 0, 4, 2),
        aliases=(Alias("阳光苑", "estate"), Alias("建设路", "road"), Alias("文明路", "road")),
        address_ranges=(AddressRange("建设路", 101, 199),),
    ),
    Area(
        "G1M1",
        "一号微网格",
        "microgrid",
        "G1",
        box(0, 0, 1, 2),
        buildings=(BuildingSet("阳光花园", (1, 2, 3)),),
    ),
    Area(
        "G1M2",
        "二号微网格",
        "microgrid",
        "G1",
        box(1, 0, 2, 2),
        buildings=(BuildingSet("阳光花园", (4, 5, 6)),),
    ),
    Area(
        "Z1",
        "实验小学专属网格",
        "special",
        "C1",
        box(1.5, 0.5, 2.5, 1.5),
        aliases=(Alias("实验小学", "landmark"),),
    ),
    Area("G3", "测试社区第三网格", "grid", "C1", Polygon([(0, 2), (4, 2), (4, 3), (1, 3), (1, 4), (0, 4)])),
]


@pytest.fixture(scope="module")
def index() -> GridIndex:
    return GridIndex.build(AREAS)


@pytest.fixture(scope="module")
def city() -> CityConfig:
    return load_city_config(PROJECT_ROOT / "config")


def test_point_inside_a_grid_goes_to_that_grid(index: GridIndex) -> None:
    assert index.locate(3.0, 1.8) == "G2"


def test_point_outside_every_grid_is_none(index: GridIndex) -> None:
    assert index.locate(5.0, 1.0) is None
    assert index.locate(-0.1, 1.0) is None
    assert index.locate(float("nan"), 1.0) is None


def test_micro_grid_comes_before_its_grid(index: GridIndex) -> None:
    assert index.locate(0.5, 1.0) == "G1M1"
    assert index.locate(1.2, 1.8) == "G1M2"
    assert index.grid_of("G1M2") == "G1"


def test_special_grid_wins_over_micro_grid_and_grid(index: GridIndex) -> None:
    assert index.locate(1.7, 1.0) == "Z1"  # over G1M2 and G1
    assert index.locate(2.3, 1.0) == "Z1"  # over G2
    assert index.candidates(1.7, 1.0) == ["Z1", "G1M2", "G1"]
    assert index.grid_of("Z1") == "Z1"


def test_point_on_shared_border_goes_to_smallest_code(index: GridIndex) -> None:
    # x = 2 is the G1/G2 border (and the east edge of G1M2); y = 1.8 is outside the special grid.
    assert index.candidates(2.0, 1.8) == ["G1M2", "G1", "G2"]
    assert index.locate(2.0, 1.8) == "G1M2"
    # y = 2 is the G2/G3 border, away from any micro-grid.
    assert index.locate(3.0, 2.0) == "G2"
    # The corner where G1M1, G1M2, G1 and G3 meet.
    assert index.locate(1.0, 2.0) == "G1M1"


def test_border_answer_does_not_depend_on_input_order() -> None:
    forward, backward = GridIndex.build(AREAS), GridIndex.build(list(reversed(AREAS)))
    for point in [(2.0, 1.8), (3.0, 2.0), (1.0, 2.0), (2.0, 0.0), (1.5, 0.5)]:
        assert forward.locate(*point) == backward.locate(*point)


def test_non_rectangular_grid_is_tested_exactly(index: GridIndex) -> None:
    assert index.locate(0.5, 3.5) == "G3"
    assert index.locate(3.0, 3.5) is None  # inside G3's bounding box, outside its L shape


def test_index_refuses_levels_it_cannot_locate() -> None:
    with pytest.raises(ValueError, match="community"):
        GridIndex.from_polygons([("C1", "community", box(0, 0, 1, 1))])


def test_empty_index_finds_nothing() -> None:
    index = GridIndex.from_polygons([])
    assert len(index) == 0 and index.locate(0.0, 0.0) is None


@settings(max_examples=400, deadline=None)
@given(st.floats(-0.5, 4.5), st.floats(-0.5, 4.5))
def test_locate_agrees_with_a_plain_strtree_query(x: float, y: float) -> None:
    index = GridIndex.build(AREAS)
    hits = index.candidates(x, y)
    assert index.locate(x, y) == (hits[0] if hits else None)


# A 3 × 3 lattice of parallelograms: every lookup needs the exact point-in-polygon test.
SKEWED = [
    (
        f"P{r}{c}",
        "grid",
        Polygon(
            [
                (c + 0.4 * r, r),
                (c + 1 + 0.4 * r, r),
                (c + 1 + 0.4 * (r + 1), r + 1),
                (c + 0.4 * (r + 1), r + 1),
            ]
        ),
    )
    for r in range(3)
    for c in range(3)
]


@settings(max_examples=300, deadline=None)
@given(st.floats(-0.5, 4.5), st.floats(-0.5, 3.5))
def test_non_rectangular_lattice_agrees_with_a_plain_strtree_query(x: float, y: float) -> None:
    index = GridIndex.from_polygons(SKEWED)
    hits = index.candidates(x, y)
    assert index.locate(x, y) == (hits[0] if hits else None)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(SKEWED) - 1), st.integers(0, 3), st.floats(0.0, 1.0))
def test_points_on_slanted_edges_and_vertices_agree_with_a_plain_strtree_query(which: int, edge: int, t: float) -> None:
    index = GridIndex.from_polygons(SKEWED)
    coords = list(SKEWED[which][2].exterior.coords)
    (ax, ay), (bx, by) = coords[edge], coords[edge + 1]
    x, y = ax + t * (bx - ax), ay + t * (by - ay)
    hits = index.candidates(x, y)
    assert index.locate(x, y) == (hits[0] if hits else None)


def test_demo_city_points_route_to_special_micro_and_plain_grids(city: CityConfig) -> None:
    index = GridIndex.build(city.areas.values())
    above = {"special": [], "microgrid": ["special"], "grid": ["special", "microgrid"]}
    checked = dict.fromkeys(above, 0)
    for area in city.areas.values():
        if area.level not in above:
            continue
        point = area.geometry.representative_point()
        higher = [a.geometry for a in city.areas.values() if a.level in above[area.level]]
        if not any(g.intersects(point) for g in higher):
            assert index.locate(point.x, point.y) == area.code
            checked[area.level] += 1
    assert all(count >= 5 for count in checked.values()), checked
    district = next(a for a in city.areas.values() if a.level == "district").geometry
    minx, miny, maxx, maxy = district.bounds
    assert index.locate(maxx + 0.01, maxy) is None
    assert index.locate(minx, miny - 1e-6) is None


def test_every_special_grid_of_the_demo_city_overrides_the_grid_below(city: CityConfig) -> None:
    index = GridIndex.build(city.areas.values())
    for special in (a for a in city.areas.values() if a.level == "special"):
        point = special.geometry.representative_point()
        below = index.candidates(point.x, point.y)
        assert below[0] == special.code and len(below) >= 2

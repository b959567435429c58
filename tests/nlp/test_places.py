"""Place extraction: names, aliases, door numbers, buildings and landmarks to the right grid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from nlp.places import Gazetteer, PlaceMatch, parse_number

HERE = Path(__file__).parent
MINI_CITY = HERE / "fixtures" / "mini_city.geojson"
DEMO_CITY = HERE.parent.parent / "config" / "demo_city.geojson"


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.from_geojson(MINI_CITY)


def _best(g: Gazetteer, text: str) -> PlaceMatch:
    match = g.best(text)
    assert match is not None, text
    return match


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("128", 128),
        ("一百二十八", 128),
        ("一二八", 128),
        ("十二", 12),
        ("二十", 20),
        ("两", 2),
        ("十", 10),
        ("三百零五", 305),
        ("七", 7),
    ],
)
def test_parse_number_reads_arabic_and_chinese_numerals(text: str, number: int) -> None:
    assert parse_number(text) == number


def test_parse_number_refuses_non_numbers() -> None:
    assert parse_number("号楼") is None


@pytest.mark.parametrize(
    "text", ["阳光花园门口垃圾没人收", "阳光花园小区门口垃圾没人收", "我住阳光小区，门口垃圾没人收"]
)
def test_estate_name_and_its_suffix_variants_give_the_grid(gazetteer: Gazetteer, text: str) -> None:
    match = _best(gazetteer, text)
    assert (match.area_code, match.grid_code, match.kind) == ("G1", "G1", "estate")
    assert match.confidence >= 0.8


def test_stem_shared_by_two_estates_is_ambiguous_and_low_confidence(gazetteer: Gazetteer) -> None:
    match = _best(gazetteer, "春华小区门口有人摆摊")
    assert match.kind == "ambiguous"
    assert match.area_code == "C1"
    assert match.grid_code is None
    assert match.confidence < 0.5
    assert _best(gazetteer, "春华苑门口有人摆摊").area_code == "G2"
    assert _best(gazetteer, "春华嘉园门口有人摆摊").area_code == "G3"


def test_compound_and_its_variants_give_the_grid(gazetteer: Gazetteer) -> None:
    assert _best(gazetteer, "纺织厂家属院的下水道堵了").area_code == "G1"
    assert _best(gazetteer, "纺织厂宿舍的下水道堵了").area_code == "G1"


@pytest.mark.parametrize(
    ("text", "grid"),
    [
        ("建设路12号门口有个坑", "G1"),
        ("建设路128号门口有个坑", "G2"),
        ("建设路一百二十八号门口有个坑", "G2"),
        ("和平路150号", "G3"),
        ("文明路的99号", "G1"),
        ("文明路101号", "G3"),
    ],
)
def test_road_and_door_number_give_the_grid_of_the_range(gazetteer: Gazetteer, text: str, grid: str) -> None:
    match = _best(gazetteer, text)
    assert (match.area_code, match.kind) == (grid, "address")
    assert match.confidence >= 0.9


def test_road_without_number_covers_several_grids_with_low_confidence(gazetteer: Gazetteer) -> None:
    match = _best(gazetteer, "建设路上的井盖丢了")
    assert (match.area_code, match.grid_code, match.kind) == ("C1", None, "road")
    assert match.confidence < 0.5


def test_door_number_outside_every_range_falls_back_to_the_road(gazetteer: Gazetteer) -> None:
    assert _best(gazetteer, "建设路900号").kind == "road"


@pytest.mark.parametrize(
    ("text", "micro"),
    [
        ("阳光花园3号楼2单元502室楼道灯不亮", "G1M1"),
        ("阳光花园三号楼楼道灯不亮", "G1M1"),
        ("阳光花园8栋电梯坏了", "G1M2"),
        ("阳光花园十二幢门口", "G1M2"),
        ("阳光花园小区7#楼", "G1M2"),
        ("住在阳光花园，10号楼的灯不亮", "G1M2"),
        ("9号楼门口的垃圾，阳光花园的", "G1M2"),
    ],
)
def test_building_number_of_an_estate_gives_the_micro_grid(gazetteer: Gazetteer, text: str, micro: str) -> None:
    match = _best(gazetteer, text)
    assert (match.area_code, match.grid_code, match.kind) == (micro, "G1", "building")


def test_building_not_in_any_micro_grid_gives_the_grid(gazetteer: Gazetteer) -> None:
    match = _best(gazetteer, "阳光花园20号楼门口")
    assert (match.area_code, match.kind) == ("G1", "estate")


def test_unit_and_room_numbers_are_not_building_numbers(gazetteer: Gazetteer) -> None:
    assert _best(gazetteer, "阳光花园2单元502室").area_code == "G1"


@pytest.mark.parametrize(
    ("text", "area"),
    [
        ("建设路菜市场门口有人占道", "G1"),
        ("建设路那个菜场门口全是垃圾", "G1"),
        ("工商银行建设路支行门口", "G2"),
        ("工行建设路支行门口", "G2"),
        ("和平路幼儿园门口堵车", "G3"),
        ("人民医院旁边乱停车", "SP1"),
        ("示例区人民医院门口", "SP1"),
    ],
)
def test_landmarks_give_their_area(gazetteer: Gazetteer, text: str, area: str) -> None:
    match = _best(gazetteer, text)
    assert match.area_code == area
    assert match.kind == "landmark"


def test_special_grid_is_its_own_grid(gazetteer: Gazetteer) -> None:
    match = _best(gazetteer, "人民医院旁边乱停车")
    assert match.grid_code == "SP1"


def test_two_crossing_roads_give_the_grid_they_share(gazetteer: Gazetteer) -> None:
    match = _best(gazetteer, "建设路和和平路路口的红绿灯坏了")
    assert (match.area_code, match.kind) == ("G2", "crossing")


@pytest.mark.parametrize(
    ("text", "area", "kind"),
    [
        ("红星社区的垃圾清运太慢", "C1", "community"),
        ("红星社区居委会不作为", "C1", "community"),
        ("幸福路街道办几点上班", "S1", "street"),
        ("示例区", "D", "district"),
    ],
)
def test_community_and_street_names_have_low_confidence_and_no_grid(
    gazetteer: Gazetteer, text: str, area: str, kind: str
) -> None:
    match = _best(gazetteer, text)
    assert (match.area_code, match.grid_code, match.kind) == (area, None, kind)
    assert match.confidence < 0.5


@pytest.mark.parametrize("text", ["红星社区第二网格的网格员是谁", "红星二网格的网格员是谁", "红星社区第2网格"])
def test_grid_names_and_spoken_forms_give_the_grid(gazetteer: Gazetteer, text: str) -> None:
    assert _best(gazetteer, text).area_code == "G2"


def test_micro_grid_name_gives_the_micro_grid(gazetteer: Gazetteer) -> None:
    match = _best(gazetteer, "红星社区第一网格二号微网格")
    assert (match.area_code, match.grid_code) == ("G1M2", "G1")


def test_traditional_and_full_width_text_spans_index_the_original(gazetteer: Gazetteer) -> None:
    text = "您好！陽光花園３號樓門口垃圾沒人收"
    match = _best(gazetteer, text)
    assert match.area_code == "G1M1"
    assert text[match.span[0] : match.span[1]] == match.matched == "陽光花園３號樓"


def test_every_span_matches_its_surface_text(gazetteer: Gazetteer) -> None:
    text = "建设路12号旁边，阳光花园北门，红星社区"
    for match in gazetteer.extract(text):
        assert text[match.span[0] : match.span[1]] == match.matched


def test_extract_lists_all_places_most_confident_first(gazetteer: Gazetteer) -> None:
    found = gazetteer.extract("红星社区春华苑门口，建设路128号")
    assert {m.area_code for m in found} == {"C1", "G2"}
    confidences = [m.confidence for m in found]
    assert confidences == sorted(confidences, reverse=True)
    assert found[0].kind == "address"


@pytest.mark.parametrize("text", ["垃圾好几天没人收了", "今天阳光很好", "", "花园里的路灯不亮"])
def test_text_without_a_place_gives_nothing(gazetteer: Gazetteer, text: str) -> None:
    assert gazetteer.best(text) is None
    assert gazetteer.extract(text) == []


def test_gazetteer_builds_from_feature_dicts() -> None:
    features: list[dict[str, Any]] = json.loads(MINI_CITY.read_text("utf-8"))["features"]
    from_features = Gazetteer(features)
    from_properties = Gazetteer([f["properties"] for f in features])
    for g in (from_features, from_properties):
        assert _best(g, "阳光花园3号楼").area_code == "G1M1"


def test_demo_city_cases_give_the_exact_area_at_least_95_percent() -> None:
    g = Gazetteer.from_geojson(DEMO_CITY)
    cases: list[dict[str, Any]] = yaml.safe_load((HERE / "place_cases.yaml").read_text("utf-8"))["cases"]
    assert len(cases) >= 100
    assert all(c["area"] is None or c["area"] in g.areas for c in cases)
    wrong = []
    for case in cases:
        match = g.best(case["text"])
        got = match.area_code if match else None
        if got != case["area"]:
            wrong.append((case["text"], case["area"], got))
    accuracy = 1 - len(wrong) / len(cases)
    assert accuracy >= 0.95, f"exact area on {accuracy:.3f} of {len(cases)} cases; wrong: {wrong}"

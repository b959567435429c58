"""Label maps: CSV one-to-one maps and YAML maps of source labels onto sets of our codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp.cli import DEFAULT_CONFIG_DIR
from nlp.dataio import load_label_info
from nlp.labelmap import read_label_map

INFO = {
    "street_lights": {"category": "municipal_facilities", "department": "urban_management"},
    "road_damage": {"category": "municipal_facilities", "department": "housing"},
    "elevator": {"category": "property_management", "department": "market_regulation"},
    "food_safety": {"category": "market_supervision", "department": "market_regulation"},
    "price_fraud": {"category": "market_supervision", "department": "market_regulation"},
    "telecom": {"category": "public_utilities", "department": "utilities"},
    "water_supply": {"category": "public_utilities", "department": "utilities"},
    "public_order": {"category": "public_security", "department": "public_security"},
}
LABELS = list(INFO)


def write(tmp_path: Path, text: str, name: str = "map.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_map_covers_sets_and_the_most_specific_entry_wins(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "labels:\n"
        "  建设: [housing, urban_management, utilities, property_management]\n"
        "  商贸: [market_regulation]\n"
        "  卫生: [food_safety]\n"
        "uncovered: [telecom]\n",
    )
    label_map = read_label_map(path)
    assert label_map.classes == ["卫生", "商贸", "建设"]
    assert dict(zip(LABELS, label_map.membership(LABELS, INFO), strict=True)) == {
        "street_lights": "建设",
        "road_damage": "建设",
        "elevator": "建设",  # its category beats its department
        "food_safety": "卫生",  # the subcategory beats its department
        "price_fraud": "商贸",
        "telecom": None,  # uncovered beats the utilities department
        "water_supply": "建设",
        "public_order": None,  # named nowhere
    }
    assert label_map.levels(INFO) == ["subcategory", "category", "department"]


def test_csv_map_is_one_to_one_and_keeps_the_targets_as_classes(tmp_path: Path) -> None:
    path = write(tmp_path, "source_label,target_label\n路灯,urban_management\n市容,urban_management\n", "m.csv")
    label_map = read_label_map(path)
    assert label_map.classes == ["urban_management"]
    assert label_map.source_to_class == {"路灯": "urban_management", "市容": "urban_management"}
    assert label_map.levels(INFO) == ["department"]


def test_csv_map_refuses_a_source_with_two_targets(tmp_path: Path) -> None:
    path = write(tmp_path, "source_label,target_label\n路灯,urban_management\n路灯,housing\n", "m.csv")
    with pytest.raises(ValueError, match="several targets"):
        read_label_map(path)


def test_equally_specific_entries_for_one_subcategory_are_refused(tmp_path: Path) -> None:
    label_map = read_label_map(write(tmp_path, "labels:\n  甲: [housing]\n  乙: [road_damage, housing]\n"))
    assert label_map.membership(["road_damage"], INFO) == ["乙"]
    clash = read_label_map(write(tmp_path, "labels:\n  甲: [municipal_facilities]\n  乙: [municipal_facilities]\n"))
    with pytest.raises(ValueError, match="ambiguous for street_lights"):
        clash.membership(LABELS, INFO)


def test_unknown_codes_are_named(tmp_path: Path) -> None:
    label_map = read_label_map(write(tmp_path, "labels:\n  甲: [housing, no_such_department]\n"))
    with pytest.raises(ValueError, match="no_such_department"):
        label_map.membership(LABELS, INFO)


def test_the_shipped_taidi_map_names_only_known_codes_and_is_unambiguous() -> None:
    info = load_label_info(DEFAULT_CONFIG_DIR)
    label_map = read_label_map(DEFAULT_CONFIG_DIR / "label_maps" / "taidi2020c.yaml")
    membership = label_map.membership(sorted(info), info)
    assert len(label_map.classes) == 7
    covered = {cls for cls in membership if cls}
    assert covered == set(label_map.classes)

"""Duplicate detection: same grid, same subcategory, within the window and similar text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from nlp.duplicates import DEFAULT_THRESHOLD, Candidate, DuplicateDetector, similarity

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PAIRS: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "fixtures" / "duplicate_pairs.yaml").read_text("utf-8")
)["pairs"]


def _ticket(
    id: str,
    text: str,
    *,
    grid: str | None = "G01",
    category: str | None = "garbage_piling",
    hours_ago: float = 1,
) -> Candidate:
    return Candidate(id, text, grid, category, NOW - timedelta(hours=hours_ago))


NEW = _ticket("new", "阳光花园小区门口垃圾好几天没人收", hours_ago=0)
PARAPHRASE = "小区大门口的垃圾堆了三天了"


def test_same_text_is_a_duplicate_with_similarity_one() -> None:
    found = DuplicateDetector().find(NEW, [_ticket("T1", NEW.text)], NOW)
    assert found == [("T1", 1.0)]


def test_paraphrase_in_same_grid_and_category_is_a_duplicate() -> None:
    assert [tid for tid, _ in DuplicateDetector().find(NEW, [_ticket("T1", PARAPHRASE)], NOW)] == ["T1"]


def test_traditional_and_full_width_text_is_a_duplicate_of_simplified() -> None:
    found = DuplicateDetector().find(NEW, [_ticket("T1", "陽光花園小區門口垃圾好幾天沒人收！")], NOW)
    assert found and found[0][1] == 1.0


def test_different_grid_is_not_a_duplicate() -> None:
    assert DuplicateDetector().find(NEW, [_ticket("T1", NEW.text, grid="G02")], NOW) == []


def test_different_category_is_not_a_duplicate() -> None:
    assert DuplicateDetector().find(NEW, [_ticket("T1", NEW.text, category="street_vending")], NOW) == []


def test_ticket_opened_before_the_window_is_not_a_duplicate() -> None:
    detector = DuplicateDetector(window_hours=72)
    assert detector.find(NEW, [_ticket("T1", NEW.text, hours_ago=73)], NOW) == []
    assert detector.find(NEW, [_ticket("T1", NEW.text, hours_ago=71)], NOW) != []


def test_window_is_configurable() -> None:
    old = _ticket("T1", NEW.text, hours_ago=100)
    assert DuplicateDetector(window_hours=24 * 7).find(NEW, [old], NOW) != []
    assert DuplicateDetector(window_hours=24).find(NEW, [old], NOW) == []


def test_unrelated_text_in_same_grid_and_category_is_not_a_duplicate() -> None:
    assert DuplicateDetector().find(NEW, [_ticket("T1", "有人把旧沙发扔在5号楼楼道里")], NOW) == []


def test_new_complaint_without_grid_or_category_has_no_duplicates() -> None:
    no_grid = _ticket("new", NEW.text, grid=None, hours_ago=0)
    no_category = _ticket("new", NEW.text, category=None, hours_ago=0)
    tickets = [_ticket("T1", NEW.text, grid=None, category=None)]
    assert DuplicateDetector().find(no_grid, tickets, NOW) == []
    assert DuplicateDetector().find(no_category, tickets, NOW) == []


def test_the_complaint_itself_is_not_its_own_duplicate() -> None:
    assert DuplicateDetector().find(NEW, [NEW], NOW) == []


def test_results_are_ordered_most_similar_first() -> None:
    tickets = [
        _ticket("T1", PARAPHRASE),
        _ticket("T2", NEW.text),
        _ticket("T3", "小区门口的垃圾好几天没人收了"),
    ]
    found = DuplicateDetector().find(NEW, tickets, NOW)
    scores = [score for _, score in found]
    assert scores == sorted(scores, reverse=True)
    assert found[0][0] == "T2"
    assert {tid for tid, _ in found} == {"T1", "T2", "T3"}


def test_similarity_is_symmetric_and_bounded() -> None:
    a, b = NEW.text, PARAPHRASE
    assert similarity(a, b) == similarity(b, a)
    assert 0 < similarity(a, b) < 1
    assert similarity("", a) == 0.0


def test_arabic_and_chinese_numerals_agree() -> None:
    assert similarity("3号楼电梯坏了", "三号楼电梯坏了") == 1.0


@pytest.mark.parametrize(("window", "threshold"), [(0, 0.2), (-1, 0.2), (72, 0.0), (72, 1.5)])
def test_invalid_parameters_are_refused(window: float, threshold: float) -> None:
    with pytest.raises(ValueError):
        DuplicateDetector(window_hours=window, threshold=threshold)


def test_precision_and_recall_on_hand_written_pairs_match_the_documented_figures() -> None:
    detector = DuplicateDetector()
    assert detector.threshold == DEFAULT_THRESHOLD
    tp = fp = fn = 0
    for i, pair in enumerate(PAIRS):
        first = _ticket(f"A{i}", pair["a"], category=pair["category"], hours_ago=5)
        second = _ticket(f"B{i}", pair["b"], category=pair["category"], hours_ago=0)
        hit = bool(detector.find(second, [first], NOW))
        tp += hit and pair["duplicate"]
        fp += hit and not pair["duplicate"]
        fn += (not hit) and pair["duplicate"]
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert sum(p["duplicate"] for p in PAIRS) >= 30
    assert sum(not p["duplicate"] for p in PAIRS) >= 25
    assert precision >= 0.95, precision
    assert recall >= 0.95, recall

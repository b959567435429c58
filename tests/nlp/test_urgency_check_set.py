"""Urgency on the issue-14 check set: emergencies found, look-alikes (nuisance water, games, smoke) left alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from nlp.urgency import detect

CHECK: dict[str, Any] = yaml.safe_load((Path(__file__).parent / "urgency_check_set.yaml").read_text("utf-8"))
URGENT: list[dict[str, str]] = CHECK["urgent"]
LOOKALIKE: list[str] = CHECK["lookalike"]


def test_check_set_is_large_and_covers_every_kind() -> None:
    assert len(URGENT) >= 60
    assert len(LOOKALIKE) >= 60
    assert {c["kind"] for c in URGENT} == {
        "gas_leak",
        "fire_smoke",
        "trapped",
        "electric_shock",
        "collapse",
        "flooding",
        "violence",
        "medical",
    }


def test_recall_on_check_set_urgent_messages_is_at_least_095() -> None:
    missed = [c["text"] for c in URGENT if not detect(c["text"]).is_urgent]
    assert 1 - len(missed) / len(URGENT) >= 0.95, missed


def test_urgent_messages_are_found_with_their_kind() -> None:
    wrong_kind = [c["text"] for c in URGENT if c["kind"] not in detect(c["text"]).kinds]
    assert len(wrong_kind) / len(URGENT) <= 0.1, wrong_kind


def test_false_alarms_on_lookalikes_are_at_most_005() -> None:
    alarms = [t for t in LOOKALIKE if detect(t).is_urgent]
    assert len(alarms) / len(LOOKALIKE) <= 0.05, alarms


def test_precision_on_check_set_is_at_least_095() -> None:
    flagged_urgent = sum(detect(c["text"]).is_urgent for c in URGENT)
    flagged_lookalike = sum(detect(t).is_urgent for t in LOOKALIKE)
    assert flagged_urgent / (flagged_urgent + flagged_lookalike) >= 0.95


def test_sewage_overflowing_onto_the_road_is_not_urgent() -> None:
    assert not detect("下水道堵了，污水漫到路上").is_urgent


def test_water_in_a_basement_with_people_stays_urgent() -> None:
    result = detect("地下室进水了，水已经到腰，里面还有人")
    assert result.is_urgent
    assert "flooding" in result.kinds

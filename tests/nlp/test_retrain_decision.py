"""retrain's decision: departments decide, because a report is routed to a department."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from nlp.retrain import Labelled, score

INFO = {
    "garbage_piling": {"department": "urban_management"},
    "illegal_ads": {"department": "urban_management"},
    "street_lights": {"department": "municipal"},
}


@dataclass(frozen=True)
class _Said:
    subcategory: str


class _Fixed:
    """A stand-in model that answers from a table (not one of ours: it plays any classifier)."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    def predict(self, text: str) -> _Said:
        return _Said(self.answers[text])


def _history(*pairs: tuple[str, str]) -> list[Labelled]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return [Labelled(text, label, start + timedelta(hours=i), "correction") for i, (text, label) in enumerate(pairs)]


HELD = _history(("a", "garbage_piling"), ("b", "garbage_piling"), ("c", "street_lights"), ("d", "illegal_ads"))


def test_scores_count_a_subcategory_of_the_right_department_as_right_for_the_department() -> None:
    near = score(
        _Fixed({"a": "illegal_ads", "b": "garbage_piling", "c": "street_lights", "d": "garbage_piling"}), HELD, INFO
    )
    assert (near.accuracy, near.department_accuracy) == (0.5, 1.0)
    assert near.department_macro_f1 == 1.0 and near.macro_f1 < 1.0


def test_a_model_better_on_departments_is_taken_even_if_its_subcategories_are_fewer_right() -> None:
    current = score(
        _Fixed({"a": "garbage_piling", "b": "garbage_piling", "c": "garbage_piling", "d": "illegal_ads"}), HELD, INFO
    )
    candidate = score(
        _Fixed({"a": "illegal_ads", "b": "illegal_ads", "c": "street_lights", "d": "illegal_ads"}), HELD, INFO
    )
    assert candidate.accuracy < current.accuracy
    assert candidate.department_accuracy > current.department_accuracy
    assert candidate.not_worse_than(current) and not current.not_worse_than(candidate)


def test_with_equal_departments_the_subcategories_break_the_tie() -> None:
    right = score(
        _Fixed({"a": "garbage_piling", "b": "garbage_piling", "c": "street_lights", "d": "illegal_ads"}), HELD, INFO
    )
    sloppy = score(
        _Fixed({"a": "illegal_ads", "b": "garbage_piling", "c": "street_lights", "d": "illegal_ads"}), HELD, INFO
    )
    assert right.department_accuracy == sloppy.department_accuracy == 1.0
    assert right.not_worse_than(sloppy) and not sloppy.not_worse_than(right)
    assert right.not_worse_than(right)


def test_a_label_the_config_does_not_route_is_its_own_department() -> None:
    held = _history(("x", "new_thing"))
    assert score(_Fixed({"x": "garbage_piling"}), held, INFO).department_accuracy == 0.0
    assert score(_Fixed({"x": "new_thing"}), held, INFO).department_accuracy == 1.0

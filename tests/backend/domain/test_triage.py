"""The triage gate: dispatch when sure and placed, ask in between, a person at the desk otherwise."""

from __future__ import annotations

import pytest

from backend.domain.triage import DeskReason, Route, Thresholds, gate

T = Thresholds(dispatch=0.9, ask=0.4)


@pytest.mark.parametrize(
    ("category_known", "confidence", "confirmed", "place_known", "can_ask", "route", "reason"),
    [
        (True, 0.95, False, True, True, Route.dispatch, None),
        (True, 0.90, False, True, False, Route.dispatch, None),
        (True, 0.60, False, True, True, Route.ask, None),
        (True, 0.60, False, True, False, Route.desk, DeskReason.unsure),  # cannot ask (Open311, staff intake)
        (True, 0.20, False, True, True, Route.desk, DeskReason.unsure),
        (True, 0.10, True, True, False, Route.dispatch, None),  # a person picked it
        (False, 0.00, True, True, True, Route.desk, DeskReason.no_category),  # "I do not know"
        (True, 0.95, False, False, True, Route.desk, DeskReason.no_place),
        (True, 0.60, True, False, True, Route.desk, DeskReason.no_place),
    ],
)
def test_gate(category_known, confidence, confirmed, place_known, can_ask, route, reason):
    verdict = gate(
        category_known=category_known,
        confidence=confidence,
        confirmed=confirmed,
        place_known=place_known,
        thresholds=T,
        can_ask=can_ask,
    )
    assert (verdict.route, verdict.reason) == (route, reason)


def test_thresholds_must_be_in_order():
    with pytest.raises(ValueError):
        Thresholds(dispatch=0.5, ask=0.6)

"""Expected calibration error and the reliability table behind it."""

from __future__ import annotations

import pytest

from nlp.evaluate import calibration_metrics


def test_confidences_matching_accuracy_give_zero_ece() -> None:
    result = calibration_metrics([0.75] * 4, [True, True, True, False])
    assert result["ece"] == pytest.approx(0.0)
    assert result["bins"] == [{"low": 0.7, "high": 0.8, "n": 4, "confidence": 0.75, "accuracy": 0.75}]


def test_ece_weighs_each_bins_gap_by_its_messages() -> None:
    # Bin 0.9–1.0: confidence 0.95, accuracy 0.5 (gap 0.45, 2 msgs); bin 0.5–0.6: 0.5 vs 0.5 (2 msgs).
    result = calibration_metrics([0.95, 0.95, 0.5, 0.5], [True, False, True, False])
    assert result["ece"] == pytest.approx(0.45 * 2 / 4)
    assert [b["n"] for b in result["bins"]] == [2, 2]


def test_a_confidence_of_one_falls_in_the_top_bin() -> None:
    assert calibration_metrics([1.0], [True])["bins"][0]["low"] == pytest.approx(0.9)

"""The cold-start rows and confusion table that bench.classify writes to BENCHMARKS.md."""

from __future__ import annotations

from bench.classify import cold_start_rows, confusion_markdown, reliability_markdown

COLD = {
    "accuracy": 0.75,
    "macro_f1": 0.7,
    "n_evaluated": 4,
    "per_class": {
        "交通运输": {"precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 2},
        "城乡建设": {"precision": 0.667, "recall": 1.0, "f1": 0.8, "support": 2},
    },
    "confusion_matrix": {"labels": ["交通运输", "城乡建设"], "matrix": [[1, 1], [0, 2]]},
}


def test_cold_start_rows_give_accuracy_macro_f1_and_each_departments_precision_and_recall() -> None:
    rows = cold_start_rows(COLD)
    assert rows[0][1] == "0.750 (before: 0.794)" and "4 msgs" in rows[0][0]
    assert rows[1][1] == "0.700 (before: 0.793)"
    assert ("cold start 交通运输: precision / recall (n=2)", "1.00 / 0.50", "—") in rows


def test_confusion_markdown_is_a_table_with_true_labels_as_rows() -> None:
    lines = confusion_markdown(COLD).splitlines()
    assert lines[2] == "| true \\ predicted | 交通运输 | 城乡建设 |"
    assert lines[3] == "|---|---|---|"
    assert lines[4:] == ["| 交通运输 | 1 | 1 |", "| 城乡建设 | 0 | 2 |"]


def test_reliability_markdown_lists_each_bin_with_its_confidence_and_accuracy() -> None:
    calibration = {
        "ece": 0.05,
        "n": 3,
        "bins": [{"low": 0.8, "high": 0.9, "n": 3, "confidence": 0.85, "accuracy": 2 / 3}],
    }
    lines = reliability_markdown("dev", calibration).splitlines()
    assert lines[0] == "Reliability, dev (ECE 0.050, 3 msgs):"
    assert lines[4] == "| 0.8–0.9 | 3 | 0.850 | 0.667 |"

"""Urgency precision and recall on our own hand-written sets: `python -m bench.urgency`.

Two sets, written for gridbot (no sentence taken from real data): tests/nlp/urgency_cases.yaml, the cases the
rules were developed on, and tests/nlp/urgency_check_set.yaml, the issue-14 check set of emergencies and their
look-alikes (nuisance water, games, cooking smoke …), and tests/nlp/urgency_holdout.yaml, written after the last
rule change and never used to tune them (the unseen figure). A miss of a real
emergency costs far more than a false alarm, so recall is the figure to hold.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from bench._report import report
from nlp.urgency import detect

TESTS = Path(__file__).resolve().parent.parent / "tests" / "nlp"
SETS = (
    ("development cases", TESTS / "urgency_cases.yaml", "emergencies", "ordinary"),
    ("check set (issue 14)", TESTS / "urgency_check_set.yaml", "urgent", "lookalike"),
    ("held-out set (unseen)", TESTS / "urgency_holdout.yaml", "urgent", "lookalike"),
)


def measure(urgent: list[str], ordinary: list[str]) -> dict[str, Any]:
    """Confusion counts and precision/recall of the urgency rules on two lists of texts."""
    hits = sum(detect(t).is_urgent for t in urgent)
    false_alarms = sum(detect(t).is_urgent for t in ordinary)
    flagged = hits + false_alarms
    return {
        "urgent": len(urgent),
        "ordinary": len(ordinary),
        "found": hits,
        "false_alarms": false_alarms,
        "recall": hits / len(urgent) if urgent else None,
        "precision": hits / flagged if flagged else None,
    }


def main() -> None:
    """Measure both sets and print/write the table."""
    parser = argparse.ArgumentParser(description="urgency precision and recall")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows: list[tuple[str, Any, str]] = []
    figures: dict[str, Any] = {}
    for name, path, urgent_key, ordinary_key in SETS:
        data = yaml.safe_load(path.read_text("utf-8"))
        urgent = [c["text"] if isinstance(c, dict) else str(c) for c in data[urgent_key]]
        ordinary = [c["text"] if isinstance(c, dict) else str(c) for c in data[ordinary_key]]
        m = measure(urgent, ordinary)
        figures[name] = m
        rows.append((f"{name}: recall ({m['found']} of {m['urgent']} emergencies)", f"{m['recall']:.3f}", "≥ 0.95"))
        rows.append(
            (
                f"{name}: precision ({m['false_alarms']} false alarms among {m['ordinary']} look-alikes)",
                f"{m['precision']:.3f}",
                "—",
            )
        )
    notes = (
        "Rules in nlp/urgency.py (keywords with negation, past-tense and look-alike guards). The check set was "
        "written before the issue-14 rule changes and the rules were then adjusted with it in view; the held-out "
        "set was written after the last rule change and is never tuned on, so it is the honest figure. None of "
        "the sets is real citizen data."
    )
    report(
        "urgency",
        "Urgency detection",
        rows,
        as_json=args.json,
        figures=figures,
        notes=notes,
        command="python -m bench.urgency",
    )


if __name__ == "__main__":
    main()

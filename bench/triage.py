"""How the triage gate splits real citizen messages: auto-dispatched, asked, or sent to the desk.

`python -m bench.triage` runs the shipped model over the labelled taidi2020c messages (../shared/data), maps
each prediction's department onto the message's policy-domain label (config/label_maps/taidi2020c.yaml),
applies `backend.domain.triage.gate` at the configured thresholds (place taken as known: this measures the
category gate only) and reports the share in each band and the accuracy of each band. A sweep of dispatch
thresholds shows the coverage / accuracy trade-off the defaults were chosen from.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from backend.domain.triage import Route, Thresholds, gate
from backend.settings import Settings
from bench._report import report
from bench.classify import DEFAULT_DATA_DIR, TAIDI, TAIDI_LABEL_MAP, read_real
from nlp.cli import DEFAULT_CONFIG_DIR, DEFAULT_MODEL_ROOT, ensure_default_model
from nlp.labelmap import read_label_map
from nlp.modelfile import load_model

SWEEP = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)


def main() -> None:
    """Measure the split at the configured thresholds and print/write the table."""
    parser = argparse.ArgumentParser(description="triage gate on real messages")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args()
    fields = Settings.model_fields
    thresholds = Thresholds(
        dispatch=float(fields["dispatch_confidence_threshold"].default),
        ask=float(fields["low_confidence_threshold"].default),
    )
    data = read_real(args.data_dir / TAIDI)
    label_map = read_label_map(DEFAULT_CONFIG_DIR / TAIDI_LABEL_MAP)
    model = load_model(ensure_default_model(DEFAULT_CONFIG_DIR, DEFAULT_MODEL_ROOT), allowed_root=DEFAULT_MODEL_ROOT)
    member = dict(zip(model.labels, label_map.membership(model.labels, model.label_info), strict=True))
    rows_in = [
        (t, lab) for t, lab in zip(data.texts, data.labels or [], strict=True) if lab in label_map.source_to_class
    ]
    predictions = model.predict_many([t for t, _ in rows_in])
    scored = [
        (p.confidence, member.get(p.subcategory) == label_map.source_to_class[lab])
        for p, (_, lab) in zip(predictions, rows_in, strict=True)
    ]
    in_top3 = [
        any(member.get(code) == label_map.source_to_class[lab] for code, _ in p.top3)
        for p, (_, lab) in zip(predictions, rows_in, strict=True)
    ]
    bands: dict[Route, list[bool]] = {route: [] for route in Route}
    asked_top3: list[bool] = []
    for (confidence, right), covered in zip(scored, in_top3, strict=True):
        verdict = gate(
            category_known=True,
            confidence=confidence,
            confirmed=False,
            place_known=True,
            thresholds=thresholds,
            can_ask=True,
        )
        bands[verdict.route].append(right)
        if verdict.route is Route.ask:
            asked_top3.append(covered)
    n = len(scored)
    figures: dict[str, Any] = {
        "messages": n,
        "dispatch_threshold": thresholds.dispatch,
        "ask_threshold": thresholds.ask,
    }
    rows: list[tuple[str, Any, str]] = []
    for route, label, goal in (
        (Route.dispatch, "auto-dispatched", "accuracy ≥ 0.95"),
        (Route.ask, "asked (the resident picks from the top 3)", "—"),
        (Route.desk, "to the triage desk (a person decides)", "—"),
    ):
        hits = bands[route]
        accuracy = sum(hits) / len(hits) if hits else None
        figures[f"{route}_n"], figures[f"{route}_accuracy"] = len(hits), accuracy
        shown = f"{accuracy:.3f}" if accuracy is not None else "—"
        rows.append(
            (
                f"{label}: messages (share), top-guess department accuracy",
                f"{len(hits)} ({len(hits) / n:.0%}), {shown}",
                goal,
            )
        )
    figures["ask_top3_coverage"] = sum(asked_top3) / len(asked_top3) if asked_top3 else None
    rows.append(
        (
            "asked: the right department is among the choices shown",
            f"{figures['ask_top3_coverage']:.3f}" if asked_top3 else "—",
            "—",
        )
    )
    for cut in SWEEP:
        kept = [right for confidence, right in scored if confidence >= cut]
        accuracy = sum(kept) / len(kept) if kept else None
        shown = f"{accuracy:.3f}" if accuracy is not None else "—"
        rows.append((f"sweep: dispatch at ≥ {cut}", f"{len(kept)} ({len(kept) / n:.0%}), {shown}", "—"))
    notes = (
        f"{n} labelled messages of {TAIDI} (the development sample; the project never trains on it). Thresholds "
        f"from backend/settings.py: dispatch ≥ {thresholds.dispatch}, ask ≥ {thresholds.ask}, else the desk. "
        "Accuracy: the department of the model's top subcategory lies in the message's policy domain. The place "
        "is taken as known (these letters carry no pins), so this is the category gate alone. "
        f"1-minute load average {os.getloadavg()[0]:.1f}."
    )
    report(
        "triage",
        "Triage gate on real messages",
        rows,
        as_json=args.json,
        figures=figures,
        notes=notes,
        command="python -m bench.triage",
    )


if __name__ == "__main__":
    main()

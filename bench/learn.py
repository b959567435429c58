"""Learning live on real messages: what `gridbot retrain` gains from a city's history, and what a swap costs.

The 451 labelled taidi messages play a city's history in the order they were sent: the older 80 % are the
decisions dispatchers made (each message filed under the subcategory the shipped model ranks highest inside
its true department group, which is what a dispatcher correcting to the right department would pick), the
newest 20 % are held back. The candidate is trained on the seed corpus plus those decisions, as `retrain`
does, and both models are scored on the held-back messages through the label map (department groups).
A second run in which every learned decision names a subcategory of another department (a dispatcher who
misroutes everything) checks that a worse model is refused; retrain decides on our departments, with the
subcategories only breaking a tie. Everything is written in a
temporary model directory that is removed at the end: the shipped model never sees the real data.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench._report import report
from bench.classify import DEFAULT_DATA_DIR, TAIDI, TAIDI_LABEL_MAP
from nlp.cli import DEFAULT_CONFIG_DIR, DEFAULT_MODEL_ROOT, SEED_CORPUS, ensure_default_model
from nlp.dataio import load_label_info, read_dataset
from nlp.evaluate import evaluate_model
from nlp.labelmap import LabelMap, read_label_map
from nlp.modelstore import SHIPPED_DIR, activate, load_version, pointer_stamp, save_version
from nlp.retrain import Labelled, split_history, train_candidate
from nlp.tokenize import words_from_config


def main() -> None:
    parser = argparse.ArgumentParser(description="retraining from a city's history, on real messages")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args()
    config = DEFAULT_CONFIG_DIR
    shipped = ensure_default_model(config, DEFAULT_MODEL_ROOT)
    root = Path(tempfile.mkdtemp(prefix="bench-learn-"))
    try:
        shutil.copytree(shipped, root / SHIPPED_DIR)
        rows, figures = _run(args.data_dir, config, root)
    finally:
        shutil.rmtree(root)
    report(
        "learn",
        "Learning live: retrain from a city's history (real messages)",
        rows,
        as_json=args.json,
        figures=figures,
        notes=__doc__.split("\n\n", 1)[1].replace("\n", " ").strip() if __doc__ else "",
    )


def _history(data_dir: Path, config: Path) -> tuple[list[Labelled], list[str], LabelMap]:
    frame = pd.read_csv(data_dir / TAIDI, dtype=str, keep_default_na=False).sort_values("time", kind="stable")
    texts = (frame["title"] + " " + frame["text"]).str.strip().tolist()
    times = [datetime.fromisoformat(t).replace(tzinfo=UTC) for t in frame["time"]]
    return (
        [Labelled(t, lab, at, "ticket") for t, lab, at in zip(texts, frame["label"], times, strict=True)],
        [],
        (read_label_map(config / TAIDI_LABEL_MAP)),
    )


def _decisions(items: list[Labelled], model: Any, label_map: LabelMap) -> list[Labelled]:
    """Each real message filed under the model's most probable subcategory inside its true department group."""
    membership = label_map.membership(model.labels, model.label_info)
    proba = model.predict_proba([item.text for item in items])
    out = []
    for item, row in zip(items, proba, strict=True):
        group = label_map.source_to_class[item.label]
        allowed = np.array([cls == group for cls in membership])
        best = int(np.argmax(np.where(allowed, row, -1.0)))
        out.append(Labelled(item.text, model.labels[best], item.at, "correction"))
    return out


def _wrong_department(labels: list[str], info: dict[str, dict[str, Any]]) -> dict[str, str]:
    """A dispatcher who files every report under another department: each subcategory → one half the list on
    (in label order), moved on until its department differs."""
    out = {}
    for i, label in enumerate(labels):
        j = (i + len(labels) // 2) % len(labels)
        while info[labels[j]].get("department") == info[label].get("department"):
            j = (j + 1) % len(labels)
        out[label] = labels[j]
    return out


def _run(data_dir: Path, config: Path, root: Path) -> tuple[list[tuple[str, Any, str]], dict[str, Any]]:
    real, _, label_map = _history(data_dir, config)
    v1 = load_version(root, "v1")
    history = _decisions(real, v1.model, label_map)
    learn, held = split_history(history)
    held_real = real[len(learn) :]
    seed = read_dataset(config / SEED_CORPUS, ["text"], "label")
    info, words = load_label_info(config), words_from_config(config)

    started = time.perf_counter()
    candidate = train_candidate(seed, history, v1, label_info=info, user_words=words)
    retrain_s = time.perf_counter() - started
    texts, labels = [i.text for i in held_real], [i.label for i in held_real]
    before = evaluate_model(v1.model, texts, labels, label_map=label_map)
    after = evaluate_model(candidate.model, texts, labels, label_map=label_map)

    started = time.perf_counter()
    name = save_version(root, candidate.model, metadata={"built_from": "bench"}, now=datetime.now(UTC))
    activate(root, name)
    activate_s = time.perf_counter() - started
    started = time.perf_counter()
    load_version(root, name).predict("路灯不亮")
    swap_s = time.perf_counter() - started
    stamps = []
    for _ in range(2000):
        t = time.perf_counter()
        pointer_stamp(root)
        stamps.append(time.perf_counter() - t)

    wrong = _wrong_department(list(v1.model.labels), info)
    misrouted = [Labelled(i.text, wrong[i.label], i.at, i.source) for i in learn]
    refused = train_candidate(seed, [*misrouted, *held], v1, label_info=info, user_words=words)

    figures = {
        "history": len(history),
        "learned": candidate.learned,
        "held_back": candidate.held_back,
        "v1_held_accuracy": before["accuracy"],
        "v1_held_macro_f1": before["macro_f1"],
        "candidate_held_accuracy": after["accuracy"],
        "candidate_held_macro_f1": after["macro_f1"],
        "decision_v1": vars(candidate.current),
        "decision_candidate": vars(candidate.candidate),
        "accepted": candidate.accepted,
        "misrouted_accepted": refused.accepted,
        "misrouted_candidate": vars(refused.candidate),
        "retrain_s": retrain_s,
        "activate_s": activate_s,
        "swap_load_s": swap_s,
        "stamp_check_us": statistics.median(stamps) * 1e6,
    }
    rows: list[tuple[str, Any, str]] = [
        ("history (taidi dev, by time): learned from / held back", f"{candidate.learned} / {candidate.held_back}", "—"),
        (
            "held back, department groups: v1 (shipped) accuracy / macro-F1",
            f"{before['accuracy']:.3f} / {before['macro_f1']:.3f}",
            "—",
        ),
        (
            "held back, department groups: retrained accuracy / macro-F1",
            f"{after['accuracy']:.3f} / {after['macro_f1']:.3f}",
            "≥ v1",
        ),
        (
            "retrain's own decision, departments (decisive): v1 vs candidate accuracy / macro-F1",
            f"{candidate.current.department_accuracy:.3f} / {candidate.current.department_macro_f1:.3f} vs "
            f"{candidate.candidate.department_accuracy:.3f} / {candidate.candidate.department_macro_f1:.3f}",
            "—",
        ),
        (
            "retrain's own decision, subcategories (tie-break): v1 vs candidate accuracy",
            f"{candidate.current.accuracy:.3f} vs {candidate.candidate.accuracy:.3f}",
            "—",
        ),
        ("retrained model activated", "yes" if candidate.accepted else "no", "yes when not worse"),
        (
            "decisions all to a wrong department: candidate department accuracy "
            f"(v1 {refused.current.department_accuracy:.3f}), activated",
            f"{refused.candidate.department_accuracy:.3f}, {'yes' if refused.accepted else 'no'}",
            "no",
        ),
        ("retrain time, seed corpus + history (s)", f"{retrain_s:.1f}", "—"),
        ("save + activate a version (s)", f"{activate_s:.2f}", "—"),
        ("swap: load the new version in a running process (s)", f"{swap_s:.2f}", "< 1 s"),
        ("version check per classification: one stat, median (µs)", f"{figures['stamp_check_us']:.1f}", "—"),
    ]
    return rows, figures


if __name__ == "__main__":
    main()

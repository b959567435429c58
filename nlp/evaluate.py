"""Evaluation: accuracy, macro-F1, per-class figures, confusion matrix, label maps and plots."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from nlp.labelmap import LabelMap

if TYPE_CHECKING:
    from rich.console import Console

    from nlp.classify import ComplaintClassifier

logger = logging.getLogger(__name__)


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, Any]:
    """accuracy, macro_f1 (over the labels present in y_true), per_class and the confusion matrix."""
    y_true, y_pred = [str(y) for y in y_true], [str(y) for y in y_pred]
    present = sorted(set(y_true))
    labels = sorted(set(y_true) | set(y_pred))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "per_class": {
            lab: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for lab, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": {
            "labels": labels,
            "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        },
        "n_evaluated": len(y_true),
    }


def calibration_metrics(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> dict[str, Any]:
    """Expected calibration error of top-1 confidences and the reliability table behind it.

    Equal-width bins over [0, 1]; ECE is the support-weighted mean gap between each bin's mean
    confidence and its accuracy (0 is perfect).
    """
    conf = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    hit = np.asarray(correct, dtype=bool)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    table, gap = [], 0.0
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        if not n:
            continue
        mean_conf, acc = float(conf[inside].mean()), float(hit[inside].mean())
        gap += n * abs(mean_conf - acc)
        table.append({"low": b / bins, "high": (b + 1) / bins, "n": n, "confidence": mean_conf, "accuracy": acc})
    return {"ece": gap / max(len(conf), 1), "bins": table, "n": len(conf)}


def evaluate_model(
    model: ComplaintClassifier,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    label_map: LabelMap | None = None,
) -> dict[str, Any]:
    """Metrics of a model on labelled texts; with a label map, predictions are restricted to its classes.

    Under a map, the model's subcategory probabilities are summed per evaluation class (e.g. per
    department, or per source label covering a set of our departments) and the prediction is the
    most probable class; subcategories the map does not cover take no part. Rows whose label is not
    in the map are skipped and counted. ``calibration`` holds the ECE of the top-1 probabilities.
    """
    if label_map is None:
        predictions = model.predict_many(texts)
        predicted = [p.subcategory for p in predictions]
        metrics = classification_metrics(labels, predicted)
        metrics["level"] = "subcategory"
        metrics["calibration"] = calibration_metrics(
            [p.confidence for p in predictions], [p == str(t) for p, t in zip(predicted, labels, strict=True)]
        )
        return metrics
    keep = [i for i, lab in enumerate(labels) if lab in label_map.source_to_class]
    classes = label_map.classes
    membership = label_map.membership(model.labels, model.label_info)
    member = np.zeros((len(model.labels), len(classes)))
    for j, cls in enumerate(membership):
        if cls is not None:
            member[j, classes.index(cls)] = 1.0
    empty = [c for c, covered in zip(classes, member.sum(axis=0), strict=True) if not covered]
    if empty:
        raise ValueError(f"label map classes {empty} cover none of the model's labels")
    y_true = [label_map.source_to_class[labels[i]] for i in keep]
    grouped = model.predict_proba([texts[i] for i in keep]) @ member if keep else np.zeros((0, len(classes)))
    y_pred = [classes[j] for j in np.argmax(grouped, axis=1)]
    metrics = classification_metrics(y_true, y_pred)
    # The summed probability of the predicted class (mass on uncovered labels counts against it).
    metrics["calibration"] = calibration_metrics(
        grouped.max(axis=1) if keep else [], [p == t for p, t in zip(y_pred, y_true, strict=True)]
    )
    levels = label_map.levels(model.label_info)
    metrics.update(
        {
            "level": levels[0] if len(levels) == 1 else "+".join(levels),
            "unmapped_rows": len(labels) - len(keep),
            "label_map": label_map.as_dict(),
        }
    )
    return metrics


def print_metrics(metrics: dict[str, Any], console: Console) -> None:
    """Per-class precision/recall/F1 and the confusion matrix as rich tables."""
    from rich.table import Table

    table = Table(title="per-class figures")
    for col in ("label", "precision", "recall", "F1", "support"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label, row in metrics["per_class"].items():
        table.add_row(label, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"]))
    console.print(table)
    cm = metrics["confusion_matrix"]
    labels = cm["labels"]
    cell = max(len(str(len(labels))), *(len(str(v)) for row in cm["matrix"] for v in row), 1) + 3
    if len(labels) * cell + max(map(len, labels), default=0) + 8 <= console.width:
        matrix = Table(title="confusion matrix (rows: true, columns: predicted)")
        matrix.add_column("true \\ pred")
        for i, _ in enumerate(labels):
            matrix.add_column(str(i), justify="right")
        for i, (label, row) in enumerate(zip(labels, cm["matrix"], strict=True)):
            matrix.add_row(f"{i} {label}", *[str(v) if v else "·" for v in row])
        console.print(matrix)
    else:
        console.print(
            f"confusion matrix: {len(labels)} labels, too wide for this terminal; "
            "use --metrics-out or --plot. Most frequent confusions:"
        )
        pairs = [
            (v, labels[i], labels[j]) for i, row in enumerate(cm["matrix"]) for j, v in enumerate(row) if i != j and v
        ]
        for v, true, pred in sorted(pairs, reverse=True)[:15]:
            console.print(f"  {true} → {pred}: {v}")
    summary = f"accuracy {metrics['accuracy']:.3f}  macro-F1 {metrics['macro_f1']:.3f}"
    if "cv" in metrics:
        cv = metrics["cv"]
        summary += (
            f"  ({cv['folds']}-fold CV: accuracy {cv['accuracy_mean']:.3f} ± {cv['accuracy_std']:.3f},"
            f" macro-F1 {cv['macro_f1_mean']:.3f} ± {cv['macro_f1_std']:.3f})"
        )
    console.print(summary)


def plot_confusion(metrics: dict[str, Any], path: Path) -> Path:
    """Draw the (row-normalised) confusion matrix to a PNG with matplotlib's Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = metrics["confusion_matrix"]["labels"]
    counts = np.asarray(metrics["confusion_matrix"]["matrix"], dtype=float)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.28 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    try:
        image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}")
        fig.colorbar(image, ax=ax, fraction=0.046)
        fig.tight_layout()
        with warnings.catch_warnings():
            # Labels in Chinese may lack a glyph in the default font; the plot is still useful.
            warnings.filterwarnings("ignore", message="Glyph .* missing", category=UserWarning)
            fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
    return path

"""Retraining from a city's own history: hold the newest part back, train, compare, keep only a model not worse.

The held-back part is the newest share of the history (by the time its label was decided), because the
question is how the model does on what comes next; the candidate is trained on the seed corpus plus the
older part, and both the candidate and the active model are scored on the held-back part. "Not worse" is
judged on departments, because routing sends a report to a department (the responsibility list maps each
subcategory to one): neither department accuracy nor department macro-F1 falls, and when the department
accuracy is only equal, the subcategory accuracy does not fall either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sklearn.metrics import accuracy_score, f1_score

from nlp.classify import ComplaintClassifier
from nlp.dataio import Dataset, LabelInfo
from nlp.train import Progress, train_model

HOLDOUT_SHARE = 0.2


@dataclass(frozen=True)
class Labelled:
    """One message of the city's history with the category people settled on, and when they did."""

    text: str
    label: str
    at: datetime
    source: str  # correction | ticket


@dataclass(frozen=True)
class Scores:
    """One model on the held-back history: subcategory and department accuracy and macro-F1."""

    accuracy: float
    macro_f1: float
    department_accuracy: float = 0.0
    department_macro_f1: float = 0.0

    def not_worse_than(self, other: Scores) -> bool:
        """Departments decide; an equal department accuracy needs an equal or better subcategory accuracy."""
        if self.department_accuracy < other.department_accuracy or self.department_macro_f1 < other.department_macro_f1:
            return False
        return self.department_accuracy > other.department_accuracy or self.accuracy >= other.accuracy


@dataclass(frozen=True)
class Candidate:
    """A trained candidate and how it compares with the active model on the held-back history."""

    model: ComplaintClassifier
    current: Scores
    candidate: Scores
    trained_on: int
    learned: int
    held_back: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        """Whether the candidate may replace the active model."""
        return self.held_back > 0 and self.candidate.not_worse_than(self.current)


def split_history(history: Sequence[Labelled], share: float = HOLDOUT_SHARE) -> tuple[list[Labelled], list[Labelled]]:
    """(to learn from, held back): the newest ``share`` of the history is held back (at least one item)."""
    ordered = sorted(history, key=lambda item: item.at)
    if not ordered:
        return [], []
    held = max(1, math.ceil(len(ordered) * share))
    return ordered[:-held], ordered[-held:]


def score(model: Any, items: Sequence[Labelled], label_info: LabelInfo) -> Scores:
    """Accuracy and macro-F1 of a classifier (anything with predict) on labelled items, per subcategory and
    per department (a label the config does not route counts as its own department)."""
    predicted = [model.predict(item.text).subcategory for item in items]
    truth = [item.label for item in items]

    def department(label: str) -> str:
        return str(label_info.get(label, {}).get("department") or label)

    sub_acc, sub_f1 = _accuracy_and_macro_f1(truth, predicted)
    dept_acc, dept_f1 = _accuracy_and_macro_f1([department(t) for t in truth], [department(p) for p in predicted])
    return Scores(accuracy=sub_acc, macro_f1=sub_f1, department_accuracy=dept_acc, department_macro_f1=dept_f1)


def _accuracy_and_macro_f1(truth: list[str], predicted: list[str]) -> tuple[float, float]:
    labels = sorted(set(truth) | set(predicted))
    return (
        float(accuracy_score(truth, predicted)),
        float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)),
    )


def train_candidate(
    seed: Dataset,
    history: Sequence[Labelled],
    current: Any,
    *,
    label_info: LabelInfo,
    user_words: Sequence[str] = (),
    share: float = HOLDOUT_SHARE,
    progress: Progress | None = None,
) -> Candidate:
    """Train on the seed corpus plus the older history and score it and ``current`` on the newest history."""
    learn, held = split_history(history, share)
    texts = [*seed.texts, *(item.text for item in learn)]
    labels = [*(seed.labels or []), *(item.label for item in learn)]
    # The seed corpus dominates: the shipped model's plain LinearSVC (nlp/classify.py docstring).
    model, metrics = train_model(
        texts, labels, label_info=label_info, user_words=user_words, progress=progress, linear="linearsvc"
    )
    zero = Scores(0.0, 0.0)
    return Candidate(
        model=model,
        current=score(current, held, label_info) if held else zero,
        candidate=score(model, held, label_info) if held else zero,
        trained_on=len(texts),
        learned=len(learn),
        held_back=len(held),
        metadata={"training_data_sha256": metrics["training_data_sha256"], "train_seconds": metrics["train_seconds"]},
    )

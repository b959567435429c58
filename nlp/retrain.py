"""Retraining from a city's own history: hold the newest part back, train, compare, keep only a model not worse.

The held-back part is the newest share of the history (by the time its label was decided), because the
question is how the model does on what comes next; the candidate is trained on the seed corpus plus the
older part, and both the candidate and the active model are scored on the held-back part. "Not worse" means
neither accuracy nor macro-F1 falls (subcategory level).
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
    """Accuracy and macro-F1 of one model on the held-back history."""

    accuracy: float
    macro_f1: float

    def not_worse_than(self, other: Scores) -> bool:
        """Neither figure lower than the other model's."""
        return self.accuracy >= other.accuracy and self.macro_f1 >= other.macro_f1


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


def score(model: Any, items: Sequence[Labelled]) -> Scores:
    """Accuracy and macro-F1 of a classifier (anything with predict) on labelled items."""
    predicted = [model.predict(item.text).subcategory for item in items]
    truth = [item.label for item in items]
    labels = sorted(set(truth) | set(predicted))
    return Scores(
        accuracy=float(accuracy_score(truth, predicted)),
        macro_f1=float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)),
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
    model, metrics = train_model(texts, labels, label_info=label_info, user_words=user_words, progress=progress)
    zero = Scores(0.0, 0.0)
    return Candidate(
        model=model,
        current=score(current, held) if held else zero,
        candidate=score(model, held) if held else zero,
        trained_on=len(texts),
        learned=len(learn),
        held_back=len(held),
        metadata={"training_data_sha256": metrics["training_data_sha256"], "train_seconds": metrics["train_seconds"]},
    )

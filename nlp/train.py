"""Training the complaint classifier, optionally with stratified k-fold cross-validation.

Measured 2026-11-22 (``python -m bench.classify``): 10,000 messages train in 36 s on 2 shared cores
(34 s of CPU): one fit is four LinearSVC fits, three for the calibration folds and the final one
(with NB-SVM since 2026-12-05, each of those is one binary LinearSVC per class).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from nlp.classify import RANDOM_STATE, ComplaintClassifier, LinearModel, build_pipeline, shrink_weights
from nlp.dataio import LabelInfo, data_sha256, label_info_for, read_dataset
from nlp.evaluate import calibration_metrics, classification_metrics
from nlp.labelmap import LabelMap
from nlp.lexicon import Lexicon

logger = logging.getLogger(__name__)

# progress(description, done, total): called before and after each fit.
Progress = Callable[[str, int, int], None]
# Weight of a prior message against one of the data's own: 0.1 won over 0.3 and 1 in 5-fold CV on
# the taidi2020c dev set (macro-F1 0.832 / 0.818 / 0.814 with a plain LinearSVC, 2026-12-04).
PRIOR_WEIGHT = 0.1


@dataclass(frozen=True)
class Prior:
    """Labelled messages from elsewhere added to every fit (never to a CV test fold) at a small weight.

    Typically the seed corpus relabelled through a label map onto the data's own labels: the data
    teaches its own wording, the prior the vocabulary of each domain it lacks.
    """

    texts: list[str]
    labels: list[str]
    weight: float = PRIOR_WEIGHT


def seed_prior(seed_corpus: Path, label_info: LabelInfo, label_map: LabelMap, labels: Sequence[str]) -> Prior:
    """The seed corpus relabelled through label_map, keeping only messages that land on one of labels."""
    seed = read_dataset(seed_corpus, ["text"], "label")
    seed_labels = seed.labels or []
    codes = sorted(set(seed_labels))
    target = dict(zip(codes, label_map.membership(codes, label_info), strict=True))
    wanted = set(labels)
    keep = [i for i, lab in enumerate(seed_labels) if target[lab] in wanted]
    return Prior([seed.texts[i] for i in keep], [str(target[seed_labels[i]]) for i in keep])


def _fit(pipeline: Pipeline, texts: list[str], labels: list[str], prior: Prior | None) -> Pipeline:
    if prior is None:
        return pipeline.fit(texts, labels)
    weights = np.concatenate([np.ones(len(texts)), np.full(len(prior.texts), prior.weight)])
    return pipeline.fit(texts + prior.texts, labels + prior.labels, clf__sample_weight=weights)


def train_model(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    label_info: LabelInfo,
    user_words: Sequence[str] = (),
    cv: int | None = None,
    progress: Progress | None = None,
    prior: Prior | None = None,
    linear: LinearModel = "nbsvm",
    lexicon: Lexicon | None = None,
) -> tuple[ComplaintClassifier, dict[str, Any]]:
    """Fit on all data (after k-fold CV when cv is given) and return the model and its metrics.

    With cv, ``accuracy``/``macro_f1``/``per_class`` are measured on the pooled out-of-fold
    predictions and ``cv`` holds the per-fold figures with their mean and standard deviation;
    without cv they are measured on the training data itself (optimistic, marked as such). A prior
    joins every fit; metrics are measured on the data's own messages only. ``linear`` and
    ``lexicon`` (a category tree whose term counts per group are features): see
    :func:`nlp.classify.build_pipeline`.
    """
    texts, labels = list(texts), list(labels)
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    counts = Counter(labels)
    if len(counts) < 2:
        raise ValueError("training needs at least two different labels")
    info = label_info_for(labels, label_info)
    total = (cv or 0) + 1
    report = progress or (lambda *_: None)
    metrics: dict[str, Any] = {}
    started = time.perf_counter()

    if cv:
        if cv < 2:
            raise ValueError("cv needs at least 2 folds")
        if min(counts.values()) < cv:
            rare = sorted(lab for lab, n in counts.items() if n < cv)
            raise ValueError(f"cv={cv} needs at least {cv} examples per label; too few for {rare[:10]}")
        metrics = cross_validate(
            texts,
            labels,
            info=info,
            user_words=user_words,
            folds=cv,
            progress=report,
            total=total,
            prior=prior,
            linear=linear,
            lexicon=lexicon,
        )

    report("fitting on all data", total - 1, total)
    pipeline = build_pipeline(user_words, min_class_count=min(counts.values()), linear=linear, lexicon=lexicon)
    pipeline = _fit(pipeline, texts, labels, prior)
    shrink_weights(pipeline)
    model = ComplaintClassifier(pipeline, info)
    report("done", total, total)

    if not cv:
        predicted = [p.subcategory for p in model.predict_many(texts)]
        metrics = classification_metrics(labels, predicted)
        metrics["evaluated_on"] = "training data (resubstitution, optimistic)"
    metrics.update(
        {
            "n_samples": len(texts),
            "n_labels": len(counts),
            "training_data_sha256": data_sha256(texts, labels),
            "train_seconds": round(time.perf_counter() - started, 2),
        }
    )
    if prior is not None:
        metrics["prior"] = {"messages": len(prior.texts), "weight": prior.weight}
    if lexicon is not None:
        metrics["lexicon"] = {"groups": len(lexicon), "terms": len(lexicon.terms)}
    return model, metrics


def cross_validate(
    texts: list[str],
    labels: list[str],
    *,
    info: LabelInfo,
    user_words: Sequence[str],
    folds: int,
    progress: Progress,
    total: int | None = None,
    prior: Prior | None = None,
    linear: LinearModel = "nbsvm",
    lexicon: Lexicon | None = None,
) -> dict[str, Any]:
    """Stratified k-fold CV: pooled out-of-fold metrics (with the ECE of their top-1 probabilities)
    plus per-fold mean and std."""
    total = total or folds
    splitter = StratifiedKFold(folds, shuffle=True, random_state=RANDOM_STATE)
    y = np.asarray(labels)
    oof = np.empty(len(labels), dtype=object)
    oof_confidence = np.zeros(len(labels))
    per_fold: list[dict[str, float]] = []
    for i, (train_idx, test_idx) in enumerate(splitter.split(np.zeros(len(y)), y)):
        progress(f"cross-validation fold {i + 1}/{folds}", i, total)
        fold_train = [texts[j] for j in train_idx]
        fold_labels = y[train_idx].tolist()
        pipeline = build_pipeline(
            user_words, min_class_count=min(Counter(fold_labels).values()), linear=linear, lexicon=lexicon
        )
        _fit(pipeline, fold_train, fold_labels, prior)
        proba = pipeline.predict_proba([texts[j] for j in test_idx])
        predicted = pipeline.classes_[np.argmax(proba, axis=1)]  # what predict() returns, without a second pass
        oof[test_idx] = predicted
        oof_confidence[test_idx] = proba.max(axis=1)
        fold_metrics = classification_metrics(y[test_idx].tolist(), list(predicted))
        per_fold.append({"accuracy": fold_metrics["accuracy"], "macro_f1": fold_metrics["macro_f1"]})
    metrics = classification_metrics(labels, [str(p) for p in oof])
    metrics["evaluated_on"] = f"out-of-fold predictions, stratified {folds}-fold CV"
    metrics["calibration"] = calibration_metrics(oof_confidence.tolist(), (oof == y).tolist())
    acc = np.array([f["accuracy"] for f in per_fold])
    f1 = np.array([f["macro_f1"] for f in per_fold])
    metrics["cv"] = {
        "folds": folds,
        "accuracy_mean": float(acc.mean()),
        "accuracy_std": float(acc.std()),
        "macro_f1_mean": float(f1.mean()),
        "macro_f1_std": float(f1.std()),
        "per_fold": per_fold,
    }
    return metrics

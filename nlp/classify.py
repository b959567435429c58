"""The complaint classifier: a TF-IDF + linear SVM pipeline with calibrated probabilities.

Features (:class:`TextFeatures`) are word uni- and bigrams from :class:`nlp.tokenize.Tokenizer` plus
character 1–3-grams, both on normalised text (:func:`nlp.normalize.normalize_many`). The model predicts a subcategory; its
top-level category and department come from ``label_info`` (taxonomy.yaml + responsibilities.yaml).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, normalize
from sklearn.svm import LinearSVC

from nlp.dataio import LabelInfo
from nlp.normalize import normalize_many
from nlp.tokenize import Tokenizer

logger = logging.getLogger(__name__)

RANDOM_STATE = 0
# Bump when the features or the model change, so that ensure_default_model rebuilds the shipped model.
PIPELINE_VERSION = "textfeatures-v3-words12-chars13-linearsvc-sigmoid"
CALIBRATION_FOLDS = 3


@dataclass(frozen=True)
class Prediction:
    """The classifier's answer for one text."""

    subcategory: str
    category: str | None
    department: str | None
    confidence: float
    top3: list[tuple[str, float]]


class TextFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """TF-IDF over word n-grams (from :class:`Tokenizer`) and character n-grams of normalised text.

    Same weighting as sklearn's TfidfVectorizer (smooth idf, sublinear tf, l2-normalised rows), but
    character n-grams are packed into integers (21 bits per code point) and looked up with numpy for
    the whole batch, and word n-grams go through C-level ``map(dict.get)``; sklearn's per-feature
    Python loop over a word and a char TfidfVectorizer managed about 3,600 messages/s here.
    """

    def __init__(self, user_words: tuple[str, ...] = (), word_ngrams: int = 2,
                 char_ngrams: tuple[int, int] = (1, 3), word_min_df: int = 2, char_min_df: int = 2) -> None:
        self.user_words = user_words
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.word_min_df = word_min_df
        self.char_min_df = char_min_df

    def _words(self, text: str) -> list[str]:
        tokens = self.tokenizer_(text)
        grams = list(tokens)
        for n in range(2, self.word_ngrams + 1):
            grams += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
        return grams

    def _chars(self, texts: Sequence[str]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(document index, packed key) of every character n-gram in the batch."""
        lo, hi = self.char_ngrams
        if hi > 3:
            raise ValueError("character n-grams longer than 3 do not fit a 64-bit key")
        joined = "\x00".join(t.replace("\x00", " ") for t in texts) + "\x00"
        cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        seps = np.concatenate(([0], np.cumsum(cp == 0)))  # separators before each position
        docs, keys = [], []
        for n in range(lo, hi + 1):
            m = len(cp) - n + 1
            inside = seps[n:n + m] == seps[:m]  # no separator within the window
            key = np.zeros(m, dtype=np.uint64)
            for k in range(n):
                key = (key << np.uint64(21)) | cp[k:k + m]
            docs.append(seps[:m][inside])
            keys.append(key[inside])
        return np.concatenate(docs), np.concatenate(keys)

    def fit(self, texts: Sequence[str], y: Any = None) -> TextFeatures:
        """Learn the vocabularies (terms reaching min_df, in sorted order) and the idf weights."""
        texts = list(texts)
        self.tokenizer_ = Tokenizer(self.user_words)
        word_df: Counter[str] = Counter()
        for text in texts:
            word_df.update(set(self._words(text)))
        words = sorted(t for t, n in word_df.items() if n >= self.word_min_df)
        docs, keys = self._chars(texts)
        order = np.lexsort((docs, keys))
        keys, docs = keys[order], docs[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = (keys[1:] != keys[:-1]) | (docs[1:] != docs[:-1])
        char_keys, char_df = np.unique(keys[first], return_counts=True)
        kept = char_df >= self.char_min_df
        self.word_vocab_ = {t: i for i, t in enumerate(words)}
        self.char_keys_ = char_keys[kept]
        self.n_features_ = len(words) + len(self.char_keys_)
        df = np.concatenate([np.array([word_df[t] for t in words], dtype=np.float64), char_df[kept]])
        self.idf_ = (np.log((1 + len(texts)) / (1 + df)) + 1).astype(np.float32)
        return self

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        """Rows of l2-normalised sublinear TF-IDF weights."""
        texts = list(texts)
        get = self.word_vocab_.get
        word_ids: list[int] = []
        lengths = []
        for text in texts:
            before = len(word_ids)
            word_ids += map(get, self._words(text), repeat(-1))
            lengths.append(len(word_ids) - before)
        w_cols = np.asarray(word_ids, dtype=np.int64)
        w_rows = np.repeat(np.arange(len(texts)), lengths)
        c_rows, keys = self._chars(texts)
        pos = np.searchsorted(self.char_keys_, keys)
        pos[pos == len(self.char_keys_)] = 0
        found = self.char_keys_[pos] == keys if len(self.char_keys_) else np.zeros(len(keys), dtype=bool)
        rows = np.concatenate([w_rows[w_cols >= 0], c_rows[found].astype(np.int64)])
        cols = np.concatenate([w_cols[w_cols >= 0], pos[found] + len(self.word_vocab_)])
        counts = coo_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                            shape=(len(texts), self.n_features_)).tocsr()  # sums duplicates
        counts.data = (np.log(counts.data) + 1) * self.idf_[counts.indices]
        return normalize(counts, copy=False)


def build_pipeline(user_words: Sequence[str] = (), *, min_class_count: int = CALIBRATION_FOLDS,
                   svm_c: float = 0.5) -> Pipeline:
    """An unfitted pipeline; calibration folds shrink when a class has fewer examples than folds."""
    folds = min(CALIBRATION_FOLDS, min_class_count)
    if folds < 2:
        raise ValueError("every label needs at least 2 training examples for probability calibration")
    svm = LinearSVC(C=svm_c, random_state=RANDOM_STATE)
    calibrated = CalibratedClassifierCV(
        svm, method="sigmoid", ensemble=False,
        cv=StratifiedKFold(folds, shuffle=True, random_state=RANDOM_STATE))
    return Pipeline([
        ("normalize", FunctionTransformer(normalize_many)),
        ("features", TextFeatures(tuple(sorted(set(user_words))))),
        ("clf", calibrated),
    ])


class ComplaintClassifier:
    """A fitted pipeline plus what each subcategory label means (category and department)."""

    def __init__(self, pipeline: Pipeline, label_info: LabelInfo) -> None:
        self.pipeline = pipeline
        self.label_info = label_info
        self.labels: list[str] = [str(c) for c in pipeline.classes_]
        missing = set(self.labels) - label_info.keys()
        if missing:
            raise ValueError(f"label_info lacks {sorted(missing)}")

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Probabilities, one row per text, columns in the order of ``self.labels``."""
        return np.asarray(self.pipeline.predict_proba(list(texts)), dtype=np.float64)

    def predict(self, text: str) -> Prediction:
        """Subcategory, category, department, confidence and top 3 for one text."""
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        """predict() for many texts in one vectorised pass."""
        if len(texts) == 0:
            return []
        proba = self.predict_proba(texts)
        k = min(3, proba.shape[1])
        top = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        out = []
        for row, idx in zip(proba, top, strict=True):
            best = self.labels[idx[0]]
            info = self.label_info[best]
            out.append(Prediction(
                subcategory=best, category=info.get("category"), department=info.get("department"),
                confidence=float(row[idx[0]]),
                top3=[(self.labels[i], float(row[i])) for i in idx]))
        return out

    def group_proba(self, texts: Sequence[str], level: str) -> tuple[list[str], np.ndarray[Any, Any]]:
        """Probabilities summed per group at ``level`` ('category', 'department' or 'subcategory')."""
        proba = self.predict_proba(texts)
        if level == "subcategory":
            return list(self.labels), proba
        keys = [self.label_info[lab].get(level) or f"?{lab}" for lab in self.labels]
        groups = sorted(set(keys))
        index = {g: i for i, g in enumerate(groups)}
        member = np.zeros((len(self.labels), len(groups)))
        for j, key in enumerate(keys):
            member[j, index[key]] = 1.0
        return groups, proba @ member

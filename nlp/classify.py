"""The complaint classifier: a TF-IDF + NB-SVM (linear) pipeline with calibrated probabilities.

Features (:class:`TextFeatures`) are words from :class:`nlp.tokenize.Tokenizer` plus character
1–3-grams, both on normalised text (:func:`nlp.normalize.normalize_many`). The model predicts a
subcategory; its top-level category and department come from ``label_info`` (taxonomy.yaml +
responsibilities.yaml).

Settings chosen by 5-fold CV on the seed corpus (4,800 messages, 2026-11-22; macro-F1): LinearSVC
C=0.5 0.832 (C=1 0.829, C=0.25 0.828); word bigrams added nothing over word unigrams (0.832 vs
0.834) and cost time and model size, so words are unigrams; dropping character unigrams hurt (0.780);
keeping words seen once did not help (0.831).

Models trained on a deployment's own data (``gridbot train``) use NB-SVM (:class:`NBSVM`, Wang &
Manning 2012): per class, the features are scaled by their log-count ratio before a binary LinearSVC
(C=0.5), and the ratio is folded into the weights, so serving is unchanged. Measured 2026-12-05 on the
same 5 folds as ``cross_validate`` (macro-F1, ECE of out-of-fold top-1 probabilities), NB-SVM vs the
plain LinearSVC: taidi2020c dev 0.826 vs 0.793 (ECE 0.068 vs 0.079), with the seed corpus as prior
0.855 vs 0.845 (ECE 0.029 vs 0.038), COCC 0.885 vs 0.885 (ECE 0.046 vs 0.040). The shipped model (seed
corpus, 71 labels) keeps the plain LinearSVC: with NB-SVM its cold start on taidi fell (department
accuracy 0.849 vs 0.854, ECE 0.084 vs 0.060) and it trained twice as slowly. ``gridbot train --lexicon``
adds a deployment's category tree as one feature per group (:mod:`nlp.lexicon`, measurements there);
NB-SVM leaves those columns unscaled, and serving computes them from the words it already has.

Serving does not go through sklearn's Pipeline: :class:`_FastModel` applies the fitted vocabularies,
idf and linear weights itself (one message: no sparse matrix, a binary search for character n-grams,
a gather of the weight rows it needs; a batch: one sparse product), then Platt scaling for all classes
at once; a batch's top 3 come from a partition, not a sort of all classes. A test checks the
probabilities equal ``pipeline.predict_proba``. Measured 2026-12-05 17:23 UTC on the shared 2-core
machine at load average ~5.5 (10,000 100-char real messages, best of 7 calls, per second of process
CPU time, runs alternating with the code before): predict_many 22,000-23,200 msgs/s (the code before:
17,900-18,900), one predict() 0.19 ms median (unchanged); ``python -m bench.classify`` at load 5.6
gave 22,956 msgs/s wall clock. BENCHMARKS.md has a full run with the sklearn Pipeline's figures beside ours.
"""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix, diags, hstack
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, normalize
from sklearn.svm import LinearSVC

from nlp.dataio import LabelInfo
from nlp.lexicon import LEXICON_SCALE, Lexicon, LexiconGroups
from nlp.normalize import normalize_many, normalize_text
from nlp.tokenize import Tokenizer

logger = logging.getLogger(__name__)

RANDOM_STATE = 0
# Bump when the features or the model change, so that ensure_default_model rebuilds the shipped model.
# The shipped model is still a LinearSVC; v8 is the build_pipeline that can also fit NB-SVM.
PIPELINE_VERSION = "textfeatures-v8-words1-chars13-linearsvc-platt"
CALIBRATION_FOLDS = 3
# The linear model under the Platt calibration (see build_pipeline).
LinearModel = Literal["nbsvm", "linearsvc"]


@dataclass(frozen=True)
class Prediction:
    """The classifier's answer for one text."""

    subcategory: str
    category: str | None
    department: str | None
    confidence: float
    top3: list[tuple[str, float]]


class TextFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """TF-IDF over word n-grams (from :class:`Tokenizer`) and character n-grams of normalised text,
    then, with a lexicon (:mod:`nlp.lexicon`), one column per group: ``lexicon_scale * log(1 + the
    number of distinct terms of the group among the text's words)``, outside the l2 normalisation.

    Same weighting as sklearn's TfidfVectorizer (smooth idf, sublinear tf, l2-normalised rows), but
    character n-grams are packed into integers (21 bits per code point) and looked up with numpy for
    the whole batch, and word n-grams go through C-level ``map(dict.get)``; sklearn's per-feature
    Python loop over a word and a char TfidfVectorizer managed about 3,600 messages/s here.
    """

    def __init__(
        self,
        user_words: tuple[str, ...] = (),
        word_ngrams: int = 1,
        char_ngrams: tuple[int, int] = (1, 3),
        word_min_df: int = 2,
        char_min_df: int = 2,
        lexicon: LexiconGroups = (),
        lexicon_scale: float = LEXICON_SCALE,
    ) -> None:
        self.user_words = user_words
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.word_min_df = word_min_df
        self.char_min_df = char_min_df
        self.lexicon = lexicon
        self.lexicon_scale = lexicon_scale

    def _words(self, text: str) -> list[str]:
        tokens = self.tokenizer_(text)
        if self.word_ngrams < 2:
            return tokens
        grams = list(tokens)
        for n in range(2, self.word_ngrams + 1):
            grams += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        return grams

    def _chars(self, texts: Sequence[str]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(document index, packed key) of every character n-gram in the batch."""
        docs, keys = [], []
        for _, starts, key, inside in self._windows(texts):
            docs.append(starts[inside])
            keys.append(key[inside])
        return np.concatenate(docs), np.concatenate(keys)

    def _windows(
        self, texts: Sequence[str]
    ) -> Iterator[tuple[int, np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]]:
        """For each n-gram length n: (n, document of each start, packed key, whether inside one
        document) for the windows of n characters starting at each position of the joined batch."""
        lo, hi = self.char_ngrams
        if hi > 3:
            raise ValueError("character n-grams longer than 3 do not fit a 64-bit key")
        joined = "\x00".join(t.replace("\x00", " ") for t in texts) + "\x00"
        cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        seps = np.zeros(len(cp) + 1, dtype=np.int32)  # separators before each position
        np.cumsum(cp == 0, out=seps[1:])
        key = np.zeros(len(cp), dtype=np.uint64)
        for n in range(1, hi + 1):
            m = max(len(cp) - n + 1, 0)  # a batch of one empty text is shorter than the n-gram
            # The n-gram starting at i is the (n-1)-gram starting at i, shifted, plus character i+n-1.
            key = (key[:m] << np.uint64(21)) | cp[n - 1 : n - 1 + m]
            if n >= lo:
                yield n, seps[:m], key, seps[n : n + m] == seps[:m]  # no separator within the window

    def _char_columns(self, texts: list[str]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(document index, column) of every character n-gram in the vocabulary, as int32.

        A document holding an n-gram holds both its (n-1)-grams, so an n-gram reaching char_min_df
        has (n-1)-grams that reach it too: only n-grams whose two (n-1)-grams are in the vocabulary
        are looked up (on real messages, a third of the trigrams).
        """
        lookup, lo = self._char_lookup(), self.char_ngrams[0]
        rows, cols = [], []
        known = np.zeros(0, dtype=bool)
        for n, starts, key, inside in self._windows(texts):
            m = len(key)
            wanted = inside if n == lo else inside & known[:m] & known[1 : m + 1]
            found = np.full(m, -1, dtype=np.int64)
            found[wanted] = lookup.get_indexer(key[wanted])
            known = found >= 0
            rows.append(starts[known])
            cols.append(found[known].astype(np.int32) + np.int32(len(self.word_vocab_)))
        return np.concatenate(rows), np.concatenate(cols)

    def fit(self, texts: Sequence[str], y: Any = None) -> TextFeatures:
        """Learn the vocabularies (terms reaching min_df, in sorted order) and the idf weights."""
        texts = list(texts)
        terms = sorted({t for _, group in self.lexicon for t in group})
        self.tokenizer_ = Tokenizer((*self.user_words, *terms))
        # term → row of the (terms × groups) membership matrix; the block's columns follow the text's.
        self.term_index_ = {t: i for i, t in enumerate(terms)}
        members = [(self.term_index_[t], g) for g, (_, group) in enumerate(self.lexicon) for t in group]
        self.term_groups_ = csr_matrix(
            (np.ones(len(members), dtype=np.float32), ([m[0] for m in members], [m[1] for m in members])),
            shape=(len(terms), len(self.lexicon)),
        )
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
        self.n_text_features_ = len(words) + len(self.char_keys_)
        self.n_features_ = self.n_text_features_ + len(self.lexicon)
        df = np.concatenate([np.array([word_df[t] for t in words], dtype=np.float64), char_df[kept]])
        self.idf_ = (np.log((1 + len(texts)) / (1 + df)) + 1).astype(np.float32)
        return self

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        """Rows of l2-normalised sublinear TF-IDF weights (then the lexicon block, if any)."""
        tfidf, block = self.transform_parts(texts)
        return tfidf if block is None else csr_matrix(hstack([tfidf, block], format="csr", dtype=np.float32))

    def transform_parts(self, texts: Sequence[str]) -> tuple[csr_matrix, csr_matrix | None]:
        """The TF-IDF rows and the lexicon block (None without a lexicon), not yet side by side."""
        texts = list(texts)
        w_rows, w_cols, term_hits = self._word_columns(texts)
        c_rows, c_cols = self._char_columns(texts)
        counts = _count_matrix(
            np.concatenate([w_rows, c_rows]), np.concatenate([w_cols, c_cols]), (len(texts), self.n_text_features_)
        )
        counts.data = (np.log(counts.data) + 1) * self.idf_[counts.indices]
        tfidf = normalize(counts, copy=False)
        if term_hits is None:
            return tfidf, None
        hits = _count_matrix(*term_hits, (len(texts), len(self.term_index_)))
        hits.data[:] = 1  # distinct terms
        block = csr_matrix(hits @ self.term_groups_)
        block.data = (np.log1p(block.data) * np.float32(self.lexicon_scale)).astype(np.float32)
        return tfidf, block

    def _word_columns(
        self, texts: list[str]
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None]:
        """(document index, column) of every word in the vocabulary, as int32; and with a lexicon,
        (document index, term index) of every lexicon term among the words (None without one)."""
        get = self.word_vocab_.get
        # Unigrams need no filtering here: stop words and punctuation never entered the vocabulary.
        words = self.tokenizer_.cut if self.word_ngrams < 2 else self._words
        word_ids: list[int] = []
        lengths = []
        term_get = self.term_index_.get if self.lexicon else None
        term_ids: list[int] = []
        for text in texts:
            before = len(word_ids)
            tokens = words(text)
            word_ids += map(get, tokens, repeat(-1))
            lengths.append(len(word_ids) - before)
            if term_get is not None:
                term_ids += map(term_get, tokens, repeat(-1))
        cols = np.asarray(word_ids, dtype=np.int32)
        rows = np.repeat(np.arange(len(texts), dtype=np.int32), lengths)
        term_hits = None
        if term_get is not None:
            terms = np.asarray(term_ids, dtype=np.int32)
            found = terms >= 0
            term_hits = (rows[found], terms[found])
        known = cols >= 0
        return rows[known], cols[known], term_hits

    def _char_lookup(self) -> pd.Index:
        # A hash index (4x faster than searchsorted here), built on first use and never pickled.
        lookup = self.__dict__.get("_lookup")
        if lookup is None:
            lookup = self._lookup = pd.Index(self.char_keys_)
        return lookup

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_lookup", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Models pickled before lexicons existed have none.
        if "char_keys_" in state and "n_text_features_" not in state:
            state.update(
                lexicon=(),
                lexicon_scale=LEXICON_SCALE,
                n_text_features_=state["n_features_"],
                term_index_={},
                term_groups_=csr_matrix((0, 0), dtype=np.float32),
            )
        super().__setstate__(state)


def _count_matrix(rows: np.ndarray[Any, Any], cols: np.ndarray[Any, Any], shape: tuple[int, int]) -> csr_matrix:
    """How often each (row, column) pair occurs, as a canonical float32 CSR matrix (columns sorted).

    Rows come in a few sorted runs (words, then character n-grams), so a stable argsort merely merges
    them; two transpositions (counting sorts) then order each row's columns and bring duplicates
    together: 40 % less time than coo_matrix.tocsr(), which sorts every row.
    """
    indptr = np.zeros(shape[0] + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    order = np.argsort(rows, kind="stable")
    grouped = csr_matrix((np.ones(len(rows), dtype=np.float32), cols[order], indptr), shape=shape)
    counts = grouped.tocsc().tocsr()  # sorted indices, flagged as such
    counts.sum_duplicates()
    return counts


class NBSVM(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """NB-SVM (Wang & Manning 2012): one-vs-rest linear SVMs on features scaled by their log-count ratio.

    For each class, every feature is multiplied by log((p/|p|₁) / (q/|q|₁)), where p and q are its
    (sample-weighted, add-``alpha`` smoothed) document frequencies inside and outside the class; a
    binary LinearSVC is fitted on the scaled features. The scaling folds into the weights
    (``coef_[c] = w_c * r_c``), so the fitted model is a plain linear model like LinearSVC's:
    ``coef_``/``intercept_``/``decision_function`` have the same shapes (one row for two classes).
    The last ``plain_tail`` features (a lexicon block: counts, not term presence) are not scaled.
    """

    def __init__(self, C: float = 1.0, alpha: float = 1.0, plain_tail: int = 0) -> None:
        self.C = C
        self.alpha = alpha
        self.plain_tail = plain_tail

    def fit(self, X: csr_matrix, y: Any, sample_weight: Any = None) -> NBSVM:
        """One binary LinearSVC per class (one for the second class when there are two)."""
        labels = np.asarray(y)
        self.classes_ = np.unique(labels)
        weights = np.ones(len(labels)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        present = csr_matrix(
            X[:, : X.shape[1] - self.plain_tail] if self.plain_tail else X, dtype=np.float64, copy=True
        )
        present.data[:] = 1.0
        unscaled = np.ones(self.plain_tail)
        targets = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        coefs, intercepts = [], []
        for target in targets:
            positive = labels == target
            p = self.alpha + np.asarray(present.T @ (weights * positive)).ravel()
            q = self.alpha + np.asarray(present.T @ (weights * ~positive)).ravel()
            ratio = np.concatenate([np.log(p / p.sum()) - np.log(q / q.sum()), unscaled])
            svm = LinearSVC(C=self.C, random_state=RANDOM_STATE)
            svm.fit(X @ diags(ratio), positive.astype(np.int64), sample_weight=sample_weight)
            coefs.append(svm.coef_.ravel() * ratio)
            intercepts.append(float(svm.intercept_[0]))
        self.coef_ = np.vstack(coefs)
        self.intercept_ = np.asarray(intercepts)
        return self

    def decision_function(self, X: csr_matrix) -> np.ndarray[Any, Any]:
        """Linear decision values: texts × classes, or one value per text for two classes."""
        decision = np.asarray(X @ self.coef_.T) + self.intercept_
        return np.asarray(decision[:, 0]) if len(self.classes_) == 2 else decision

    def predict(self, X: csr_matrix) -> np.ndarray[Any, Any]:
        """The class with the highest decision value."""
        decision = self.decision_function(X)
        if decision.ndim == 1:
            return np.asarray(self.classes_[(decision > 0).astype(int)])
        return np.asarray(self.classes_[decision.argmax(axis=1)])


def build_pipeline(
    user_words: Sequence[str] = (),
    *,
    min_class_count: int = CALIBRATION_FOLDS,
    svm_c: float = 0.5,
    linear: LinearModel = "nbsvm",
    lexicon: Lexicon | None = None,
) -> Pipeline:
    """An unfitted pipeline; calibration folds shrink when a class has fewer examples than folds.

    ``linear`` is the model under the calibration: NB-SVM (what ``gridbot train`` fits on a
    deployment's own labelled data) or a plain LinearSVC (the shipped model and its retraining).
    ``lexicon``: a category tree whose terms count per group as features (:mod:`nlp.lexicon`).
    """
    folds = min(CALIBRATION_FOLDS, min_class_count)
    if folds < 2:
        raise ValueError("every label needs at least 2 training examples for probability calibration")
    if linear not in ("nbsvm", "linearsvc"):
        raise ValueError(f"unknown linear model {linear!r}")
    groups = lexicon.groups if lexicon is not None else ()
    model = (
        NBSVM(C=svm_c, plain_tail=len(groups)) if linear == "nbsvm" else LinearSVC(C=svm_c, random_state=RANDOM_STATE)
    )
    calibrated = CalibratedClassifierCV(
        model,
        method="sigmoid",
        ensemble=False,
        cv=StratifiedKFold(folds, shuffle=True, random_state=RANDOM_STATE),
    )
    return Pipeline(
        [
            ("normalize", FunctionTransformer(normalize_many)),
            ("features", TextFeatures(tuple(sorted(set(user_words))), lexicon=groups)),
            ("clf", calibrated),
        ]
    )


def shrink_weights(pipeline: Pipeline) -> None:
    """Store the fitted linear weights as float32: half the file size and load time, same argmax."""
    for calibrated in pipeline.named_steps["clf"].calibrated_classifiers_:
        svm = calibrated.estimator
        svm.coef_ = svm.coef_.astype(np.float32)
        svm.intercept_ = svm.intercept_.astype(np.float32)


class ComplaintClassifier:
    """A fitted pipeline plus what each subcategory label means (category and department)."""

    def __init__(self, pipeline: Pipeline, label_info: LabelInfo) -> None:
        self.pipeline = pipeline
        self.label_info = label_info
        self.labels: list[str] = [str(c) for c in pipeline.classes_]
        missing = set(self.labels) - label_info.keys()
        if missing:
            raise ValueError(f"label_info lacks {sorted(missing)}")
        calibrated = pipeline.named_steps["clf"].calibrated_classifiers_
        if len(calibrated) != 1 or calibrated[0].method != "sigmoid":
            raise ValueError("expected one sigmoid-calibrated classifier (ensemble=False)")
        self._svm = calibrated[0].estimator
        if [str(c) for c in self._svm.classes_] != self.labels:
            raise ValueError("the calibrated classifier's classes differ from the pipeline's")
        # Platt parameters per class: p = expit(-(a * decision + b)).
        self._platt_a = np.array([c.a_ for c in calibrated[0].calibrators], dtype=np.float64)
        self._platt_b = np.array([c.b_ for c in calibrated[0].calibrators], dtype=np.float64)

    def _fast(self) -> _FastModel:
        """The fitted weights rearranged for per-message lookups, built on first use, never pickled."""
        fast = self.__dict__.get("_fast_model")
        if fast is None:
            fast = self._fast_model = _FastModel(self.pipeline.named_steps["features"], self._svm)
        return fast

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_fast_model", None)
        state.pop("_meta", None)
        return state

    def _calibrate(self, decision: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Platt scaling of decision values (rows: texts), normalised to sum to 1 per row."""
        if decision.shape[1] == 1:  # two classes: one calibrator for the second
            positive = expit(-(self._platt_a[0] * decision[:, 0] + self._platt_b[0]))
            return np.column_stack([1.0 - positive, positive])
        proba = expit(-(self._platt_a * decision + self._platt_b))
        total = proba.sum(axis=1, keepdims=True)
        uniform = np.full_like(proba, 1.0 / proba.shape[1])
        return np.asarray(np.divide(proba, total, out=uniform, where=total != 0), dtype=np.float64)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Probabilities, one row per text, columns in the order of ``self.labels``.

        The same numbers as ``pipeline.predict_proba`` (a test checks this), computed for all classes
        at once and without sklearn's per-call input validation: sklearn applies its per-class
        calibrators one by one with validation each time, about 10 ms per call with 71 classes.
        """
        if len(texts) == 1:
            return self._calibrate(self._fast().decision_one(normalize_text(texts[0]))[None, :])
        return self._calibrate(self._fast().decision_many(normalize_many(texts)))

    def predict(self, text: str) -> Prediction:
        """Subcategory, category, department, confidence and top 3 for one text."""
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        """predict() for many texts in one vectorised pass."""
        if len(texts) == 0:
            return []
        proba = self.predict_proba(texts)
        top = _top_k(proba, min(3, proba.shape[1]))
        values = np.take_along_axis(proba, top, axis=1)
        labels, meta = self.labels, self._label_meta()
        out = []
        with _gc_paused():
            for idx, vals in zip(top.tolist(), values.tolist(), strict=True):
                category, department = meta[idx[0]]
                top3 = list(zip(map(labels.__getitem__, idx), vals, strict=True))
                out.append(Prediction(labels[idx[0]], category, department, vals[0], top3))
        return out

    def _label_meta(self) -> list[tuple[str | None, str | None]]:
        """(category, department) per label, in the order of ``self.labels``; built on first use."""
        meta = self.__dict__.get("_meta")
        if meta is None:
            info = self.label_info
            meta = self._meta = [(info[lab].get("category"), info[lab].get("department")) for lab in self.labels]
        return meta

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


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector. Five objects per prediction, none in a cycle, otherwise
    trigger a collection every 140 predictions and a full one about once per 10,000: measured in
    bench.classify's process, 30-35 ms of a 10,000-message predict_many (8 %)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _top_k(proba: np.ndarray[Any, Any], k: int) -> np.ndarray[Any, Any]:
    """Each row's k largest columns, largest first, ties in column order: the first k columns of a
    stable argsort of ``-proba``, without sorting every column."""
    if k >= proba.shape[1] or len(proba) < 100:  # a few rows: fewer numpy calls beat the partition
        return np.argsort(-proba, axis=1, kind="stable")[:, :k]
    top = np.sort(np.argpartition(-proba, k - 1, axis=1)[:, :k], axis=1)
    values = np.take_along_axis(proba, top, axis=1)
    top = np.take_along_axis(top, np.argsort(-values, axis=1, kind="stable"), axis=1)
    # argpartition picks any of the columns tied with the k-th largest; a stable sort picks the first.
    kth = values.min(axis=1, keepdims=True)
    tied = (proba == kth).sum(axis=1) > (values == kth).sum(axis=1)
    if tied.any():
        top[tied] = np.argsort(-proba[tied], axis=1, kind="stable")[:, :k]
    return top


class _FastModel:
    """TF-IDF features and linear decision values for one text without building sparse matrices.

    Same arithmetic as :meth:`TextFeatures.transform` followed by ``LinearSVC.decision_function``:
    the word vocabulary and a binary search in the sorted character n-gram keys give columns, the
    sublinear tf-idf weights are l2-normalised, and the decision values are the weighted sum of the
    weight matrix's rows for those columns (the matrix is stored transposed, so a row per feature).
    """

    def __init__(self, features: TextFeatures, svm: Any) -> None:
        self.features = features
        self.char_keys = features.char_keys_  # sorted (np.unique)
        self.n_words = len(features.word_vocab_)
        self.idf = features.idf_
        coef = np.asarray(svm.coef_)
        self.coef_t = np.ascontiguousarray(coef.T)  # (features, classes)
        self.intercept = np.asarray(svm.intercept_, dtype=coef.dtype)
        # Lexicon term → its groups' columns (after the text's columns).
        membership, offset = features.term_groups_, features.n_text_features_
        self.term_columns: dict[str, list[int]] = {
            term: (membership.indices[membership.indptr[i] : membership.indptr[i + 1]] + offset).tolist()
            for term, i in features.term_index_.items()
        }
        self.lexicon_scale = np.float32(features.lexicon_scale)

    def decision_one(self, text: str) -> np.ndarray[Any, Any]:
        """Decision values (one per class, or one for a binary model) for one normalised text."""
        f = self.features
        words = f.tokenizer_.cut if f.word_ngrams < 2 else f._words
        tokens = words(text)
        cols = [c for c in map(f.word_vocab_.get, tokens) if c is not None]
        _, keys = f._chars([text])
        chars = self.char_keys
        at = np.searchsorted(chars, keys)
        at[at == len(chars)] = 0
        found = at[chars[at] == keys] + self.n_words
        decision = self.intercept.copy()
        if cols or len(found):
            ids, counts = np.unique(np.concatenate([np.asarray(cols, dtype=np.int64), found]), return_counts=True)
            weights = (np.log(counts.astype(np.float32)) + np.float32(1)) * self.idf[ids]
            weights /= np.sqrt(np.dot(weights, weights))
            decision += weights @ self.coef_t[ids]
        if self.term_columns:
            decision += self._lexicon_decision(tokens)
        return decision

    def _lexicon_decision(self, tokens: list[str]) -> np.ndarray[Any, Any] | float:
        """The lexicon block's share of the decision values: log1p(distinct terms) per group."""
        hits = Counter(chain.from_iterable(map(self.term_columns.get, set(tokens), repeat(()))))
        if not hits:
            return 0.0
        columns = list(hits)
        values = np.log1p(np.asarray([hits[c] for c in columns], dtype=np.float32)) * self.lexicon_scale
        return np.asarray(values @ self.coef_t[columns])

    def decision_many(self, texts: list[str]) -> np.ndarray[Any, Any]:
        """Decision values for normalised texts (texts × classes, one column for a binary model): the
        TF-IDF rows and the lexicon block meet their own rows of the weights, so the batch's feature
        matrix is never copied to put the block beside it."""
        tfidf, block = self.features.transform_parts(texts)
        n_text = tfidf.shape[1]
        decision = np.asarray(tfidf @ self.coef_t[:n_text]) + self.intercept
        if block is not None:
            decision += np.asarray(block @ self.coef_t[n_text:])
        return np.asarray(decision)

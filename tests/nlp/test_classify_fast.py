"""The classifier's own arithmetic (no sklearn call per message) gives sklearn's pipeline's answers."""

from __future__ import annotations

import numpy as np
import pytest

from nlp.dataio import read_dataset

SAMPLE = [
    "小区门口的垃圾三天没人清运了，臭气熏天",
    "尊敬的领导：您好！我是幸福路社区的居民，近期我们楼下的餐馆每天深夜排放油烟，噪音也很大，请相关部门处理。",
    "路灯坏了",
    "孩子上学的校车超载，希望交通部门管一管",
    "醫院排隊太久，掛號難",  # Traditional characters
    "ＡＢＣ停车场收费不合理！！！😡",
    "工资被拖欠了两个月，老板不见人",
    "",
    "😀",
    "a",
]


def _texts(model_root) -> list[str]:  # type: ignore[no-untyped-def]
    from nlp.cli import DEFAULT_CONFIG_DIR, SEED_CORPUS

    seed = read_dataset(DEFAULT_CONFIG_DIR / SEED_CORPUS, ["text"], "label")
    return SAMPLE + seed.texts[::97][:150]


def test_predict_one_and_many_equal_the_sklearn_pipeline(classifier, model_root) -> None:  # type: ignore[no-untyped-def]
    texts = _texts(model_root)
    reference = classifier.pipeline.predict_proba(texts)
    batch = classifier.predict_proba(texts)
    singles = np.vstack([classifier.predict_proba([t]) for t in texts])
    assert batch.shape == singles.shape == reference.shape
    np.testing.assert_allclose(batch, reference, atol=1e-6)
    np.testing.assert_allclose(singles, reference, atol=1e-6)
    for text, row in zip(texts, reference, strict=True):
        p = classifier.predict(text)
        order = np.argsort(-row, kind="stable")[:3]
        assert [lab for lab, _ in p.top3] == [classifier.labels[i] for i in order]
        assert p.subcategory == p.top3[0][0]
        assert p.confidence == pytest.approx(float(row[order[0]]), abs=1e-6)
        q = classifier.predict_many([text, text])[1]  # float32 sums in another order: last digits differ
        assert [lab for lab, _ in q.top3] == [lab for lab, _ in p.top3]
        assert q.confidence == pytest.approx(p.confidence, abs=1e-6)


def test_the_fast_tables_are_not_pickled(classifier) -> None:  # type: ignore[no-untyped-def]
    import pickle

    classifier.predict("路灯坏了")
    again = pickle.loads(pickle.dumps(classifier))
    assert "_fast_model" not in again.__dict__
    assert again.predict("路灯坏了") == classifier.predict("路灯坏了")


def test_top_k_is_a_stable_argsort_also_with_ties() -> None:
    from nlp.classify import _top_k

    rng = np.random.default_rng(0)
    proba = rng.integers(0, 4, size=(300, 12)).astype(np.float64)  # many ties, also at the k-th place
    proba[0] = 1.0
    for k in (1, 3, 12):
        expected = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(_top_k(proba, k), expected)
        np.testing.assert_array_equal(_top_k(proba[:5], k), expected[:5])


def test_predict_many_leaves_the_garbage_collector_as_it_found_it(classifier) -> None:  # type: ignore[no-untyped-def]
    import gc

    assert gc.isenabled()
    classifier.predict_many(["路灯坏了", "垃圾没人清运"])
    assert gc.isenabled()
    gc.disable()
    try:
        classifier.predict_many(["路灯坏了", "垃圾没人清运"])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_pruned_character_lookups_find_every_known_n_gram(classifier, model_root) -> None:  # type: ignore[no-untyped-def]
    from nlp.normalize import normalize_many

    features = classifier.pipeline.named_steps["features"]
    texts = normalize_many(_texts(model_root))
    docs, keys = features._chars(texts)
    cols = features._char_lookup().get_indexer(keys)
    known = cols >= 0
    expected = sorted(zip(docs[known].tolist(), (cols[known] + len(features.word_vocab_)).tolist(), strict=True))
    rows, found = features._char_columns(texts)
    assert sorted(zip(rows.tolist(), found.tolist(), strict=True)) == expected

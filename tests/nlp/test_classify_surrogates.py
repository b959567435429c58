"""A text holding a lone surrogate (a str Python accepts but no UTF encoding does) still gets a prediction;
it crashed in the character n-grams' UTF-32 encoding and in rjieba's UTF-8 one."""

from __future__ import annotations

import numpy as np

from nlp.normalize import normalize_many, normalize_text

TEXTS = ["路灯\ud800坏了", "\udfff", "垃圾没人清运\udc80\ud83d"]


def test_normalising_replaces_lone_surrogates() -> None:
    assert normalize_text("路灯\ud800坏了") == "路灯\ufffd坏了"
    assert normalize_many(TEXTS) == [normalize_text(t) for t in TEXTS]


def test_a_text_with_a_lone_surrogate_gets_a_prediction(classifier) -> None:  # type: ignore[no-untyped-def]
    for text in TEXTS:
        prediction = classifier.predict(text)
        assert prediction.category and 0.0 <= prediction.confidence <= 1.0
    batch = classifier.predict_proba(["路灯坏了", *TEXTS])
    np.testing.assert_allclose(batch, classifier.pipeline.predict_proba(["路灯坏了", *TEXTS]), atol=1e-6)
    assert classifier.predict("路灯\ud800坏了").top3 == classifier.predict("路灯\ufffd坏了").top3

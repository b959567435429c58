"""The classifier on texts with nothing left after normalisation (found by the webhook fuzz: an emoji-only
message crashed the report flow with "negative dimensions are not allowed")."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("text", ["", " ", "😀", "😀 🙏", "\u200b"])
def test_a_text_that_normalises_to_nothing_still_gets_a_prediction(classifier, text: str) -> None:  # type: ignore[no-untyped-def]
    prediction = classifier.predict(text)
    assert prediction.category and 0.0 <= prediction.confidence <= 1.0

"""Batch shortcuts (one normalisation, one segmenter call per batch) give each text's own result."""

from __future__ import annotations

import numpy as np

from nlp.normalize import normalize_many, normalize_text

TRICKY = [
    "小区门口的垃圾三天没人清运了",
    "  前后有空格  ",
    "",
    "   ",
    "醫院排隊太久，掛號難",  # Traditional
    "一目瞭然",  # a phrase that changes though no character does alone
    "ＡＢＣ１２３，停车场！😡😡",
    "ΑΣ",  # Greek final sigma depends on what follows
    "ΣΑ",
    "e\u0301 组合字符",  # a combining accent: NFKC composes it
    "\u0301开头就是组合符",
    "零宽\u200b字符\ufeff",
    "第一行\n第二行\r\n第三行\t制表",
    "\x1c分隔符\x1f",
    "😀",
    "a",
]


def test_normalize_many_equals_each_text_normalised_alone() -> None:
    assert normalize_many(TRICKY) == [normalize_text(t) for t in TRICKY]
    for i in range(len(TRICKY)):  # every neighbour pair, both orders
        pair = [TRICKY[i], TRICKY[-1 - i]]
        assert normalize_many(pair) == [normalize_text(t) for t in pair]


def test_a_text_holding_the_separator_is_still_normalised_alone() -> None:
    texts = ["前\x00后", "路灯坏了"]
    assert normalize_many(texts) == [normalize_text(t) for t in texts]


def test_batch_features_equal_each_texts_own_row(classifier) -> None:  # type: ignore[no-untyped-def]
    features = classifier.pipeline.named_steps["features"]
    texts = normalize_many(TRICKY) + ["路灯 坏了 12号楼", "abc def", "d-e.f %x"]
    texts_with_newline = ["未归一\n的文本", "路灯坏了"]  # the segmenter is then called per text
    np.testing.assert_allclose(
        features.transform(texts_with_newline).toarray(),
        np.vstack([features.transform([t]).toarray() for t in texts_with_newline]),
        atol=1e-6,
    )
    batch = features.transform(texts).toarray()
    singles = np.vstack([features.transform([t]).toarray() for t in texts])
    np.testing.assert_allclose(batch, singles, atol=1e-6)

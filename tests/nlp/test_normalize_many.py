"""normalize_many (one pass over the joined batch) gives normalize_text's answer for every text."""

from __future__ import annotations

import itertools

from nlp.normalize import normalize_many, normalize_text

# Context-sensitive steps at a text's edges (final sigma, NFKC composition, stripping), every step's
# characters, and texts holding the separator themselves.
ODD = [
    "ΑΣ",
    "Σα",
    "'Σ",
    "ＡＢＣ１２３，！？（）\u3000x",
    "醫院 掛號",
    "😀",
    "  a  ",
    "\u200b",
    "ｶﾞ",
    "e\u0301",
    "\u0301x",
    "路灯\ud800坏了",
    "\udfff",
    "一目瞭然",
    "𠮷",
    "\r\n x \t",
    "ﬁ",
    "Ⅻ",
    "",
    "a\x00b",
]


def test_every_pair_normalises_as_alone() -> None:
    for a, b in itertools.product(ODD, repeat=2):
        assert normalize_many([a, b]) == [normalize_text(a), normalize_text(b)], (a, b)


def test_a_batch_normalises_as_one_by_one() -> None:
    texts = ODD * 3 + ["小区门口的垃圾三天没人清运了，臭气熏天😡😡", "為什麼沒人管？"]
    assert normalize_many(texts) == [normalize_text(t) for t in texts]
    assert normalize_many([]) == []
    assert normalize_many(iter(["路灯坏了"])) == ["路灯坏了"]

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
    "\ud83d\ude00",  # two lone surrogates, not 😀
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


def test_the_character_classes_follow_the_patterns_over_all_of_unicode() -> None:
    import numpy as np

    from nlp import normalize as n

    codes = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    chars = "".join(map(chr, codes))
    expected = np.zeros(0x110000, dtype=np.uint8)
    for pattern, cls in ((n._EMOJI, n._SPACE), (n._SPACES, n._SPACE), (n._INVISIBLE, n._DROP)):
        for match in pattern.finditer(chars):
            expected[[ord(c) for c in match.group()]] = cls
    assert not expected[n._CLASS_LIMIT :].any()
    np.testing.assert_array_equal(n._char_classes(), expected[: n._CLASS_LIMIT])

"""Duplicate detection: is a new complaint the same problem as an open ticket?

A likely duplicate is in the same grid and the same subcategory, was opened within the window
(default 72 h) and has similar text. Similarity is the Dice coefficient over character unigrams
(without function characters such as 的/了/都) and character bigrams, after folding Traditional to
Simplified, full-width to half-width, dropping punctuation and turning every number (3, 三, 128)
into one digit, so '3号楼' and '三号楼' agree.

The threshold 0.22 was chosen on tests/nlp/fixtures/duplicate_pairs.yaml: 63 hand-written pairs
from one grid and one subcategory each (33 paraphrased duplicates, 30 different problems of the
same kind), where it measures precision 0.97 and recall 0.97 (one miss: '井盖丢了…' vs
'井盖不见了…' at 0.18; one false hit: two different 共享单车 complaints at 0.40, which share the
topic word). The pairs were written before the threshold was picked, but it was picked on them. Short
complaints of the same subcategory share topic words, so the grid, category and window filters do
most of the work and the text score separates what remains. The caller should ask the resident
("is this the same as ticket N?") rather than merge silently. On real mayor-mailbox letters, which have
no grid or category, the text score alone at 0.22 measures precision 0.72 and recall 0.95 on 300 pairs
labelled by hand (`python -m bench.hotissues`, BENCHMARKS.md); a threshold tuned on half of them is 0.22 too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from nlp.normalize import normalize_text

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.22

_FUNCTION_CHARS = frozenset("的了啊呢吧呀吗么嘛哦都也还很太就又在是有着得地把被让给个这那些")
_CN_DIGITS = str.maketrans("零〇一二两三四五六七八九十百千", "001223456789000")
_NON_WORD = re.compile(r"[\W_]+")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A complaint as duplicate detection sees it: id, text, grid, subcategory and time opened."""

    id: str
    text: str
    grid_code: str | None
    category: str | None
    created_at: datetime


@lru_cache(maxsize=4096)
def _features(text: str) -> frozenset[str]:
    folded = _NON_WORD.sub("", normalize_text(text)).translate(_CN_DIGITS)
    folded = _NUMBER.sub("0", folded)
    unigrams = {c for c in folded if c not in _FUNCTION_CHARS}
    bigrams = {folded[i : i + 2] for i in range(len(folded) - 1)}
    return frozenset(unigrams | bigrams)


def similarity(a: str, b: str) -> float:
    """Dice similarity of two complaint texts over character unigrams and bigrams, in [0, 1]."""
    fa, fb = _features(a), _features(b)
    if not fa or not fb:
        return 0.0
    return 2 * len(fa & fb) / (len(fa) + len(fb))


class DuplicateDetector:
    """Finds open tickets that a new complaint probably repeats."""

    def __init__(self, window_hours: float = 72, threshold: float = DEFAULT_THRESHOLD) -> None:
        if window_hours <= 0:
            raise ValueError("window_hours must be positive")
        if not 0 < threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        self.window = timedelta(hours=window_hours)
        self.threshold = threshold

    def find(self, new: Candidate, open_tickets: Iterable[Candidate], now: datetime) -> list[tuple[str, float]]:
        """Return (ticket id, similarity) of likely duplicates of `new`, most similar first."""
        if new.grid_code is None or new.category is None:
            return []
        found: list[tuple[str, float]] = []
        for ticket in open_tickets:
            if ticket.id == new.id or ticket.grid_code != new.grid_code or ticket.category != new.category:
                continue
            if now - ticket.created_at > self.window or ticket.created_at > now:
                continue
            score = similarity(new.text, ticket.text)
            if score >= self.threshold:
                found.append((ticket.id, round(score, 4)))
        found.sort(key=lambda pair: pair[1], reverse=True)
        if found:
            logger.debug("candidate %s has %d likely duplicates", new.id, len(found))
        return found

"""Chat messages that name no problem: a greeting, thanks, OK, "I want to report something", "how is it going?".

Residents often open with 你好 or 在吗, and answer a ticket number with 谢谢 or 好的. Taken as reports, such
words became tickets with nothing in them, and the description typed next was read as the answer to "where?".
A message counts as courtesy only when all of it, after width folding, Traditional→Simplified, lower case and
the removal of punctuation, emoji and spaces, splits into the words of courtesy.txt; one other character
and it goes on to be assessed as a report (你好，楼道灯坏了 is a report).
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from pathlib import Path

from nlp.normalize import normalize_text

WORDS_FILE = Path(__file__).with_name("courtesy.txt")
# Longer than this, a message is not small talk (and the check stays cheap).
MAX_CHARS = 40
_NOT_A_WORD = re.compile(r"[\W_]+")


class Courtesy(StrEnum):
    """What a courtesy-only message asks of the bot."""

    greeting = "greeting"  # hello, are you there: say what to send
    thanks = "thanks"  # thanks: nothing to do
    ack = "ack"  # OK, got it, an emoji: nothing to do
    intent = "intent"  # wants to report, has not said what: ask for it
    status = "status"  # asks how their reports are going (查一下我的工单, 处理了吗): show them


# When a message mixes kinds, the one that asks most of the bot wins: 你好，我要反映 asks for a description.
_PRECEDENCE = (Courtesy.status, Courtesy.intent, Courtesy.greeting, Courtesy.thanks, Courtesy.ack)


def courtesy(text: str) -> Courtesy | None:
    """The kind of a courtesy-only message; None for a message with anything else in it (or nothing at all)."""
    if not text.strip() or len(text) > MAX_CHARS * 2:
        return None
    folded = _NOT_A_WORD.sub("", normalize_text(text).lower())
    if not folded:
        return Courtesy.ack  # punctuation and emoji only: 👍, 🙏, 。。。
    if len(folded) > MAX_CHARS:
        return None
    kinds = _split(folded)
    if kinds is None:
        return None
    return next((kind for kind in _PRECEDENCE if kind in kinds), Courtesy.greeting)  # particles alone: greet


def _split(folded: str) -> set[Courtesy] | None:
    """The kinds of the words `folded` is made of (particles add none), or None if it is not made of them."""
    words, longest = _words()
    reached: list[set[Courtesy] | None] = [set()] + [None] * len(folded)
    for start in range(len(folded)):
        kinds = reached[start]
        if kinds is None:
            continue
        for end in range(start + 1, min(len(folded), start + longest) + 1):
            piece = folded[start:end]
            if piece in words and reached[end] is None:
                kind = words[piece]
                reached[end] = kinds if kind is None else kinds | {kind}
    return reached[-1]


@cache
def _words() -> tuple[dict[str, Courtesy | None], int]:
    """Word → its kind (None for a particle), and the longest word's length."""
    words: dict[str, Courtesy | None] = {}
    for line in WORDS_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kind, *entries = line.split()
        for word in entries:
            words.setdefault(word.lower(), None if kind == "particle" else Courtesy(kind))
    return words, max(map(len, words))

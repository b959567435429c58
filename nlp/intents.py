"""What a chat message that names no problem asks for: a greeting, thanks, a rating, its tickets' progress.

Residents open with 你好 or 在吗, answer a ticket number with 谢谢 or 好的, and a request to rate with 满意.
Taken as reports, such words became tickets with nothing in them, and the description typed next was read as
the answer to "where?". A message has an intent here only when all of it, after width folding,
Traditional→Simplified, lower case and the removal of punctuation, emoji and spaces, splits into the words of
intents.txt; one other character and it goes on to be assessed as a report (你好，楼道灯坏了 is a report).
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from pathlib import Path

from nlp.normalize import normalize_text

WORDS_FILE = Path(__file__).with_name("intents.txt")
# Longer than this, a message is not small talk (and the check stays cheap).
MAX_CHARS = 40
_NOT_A_WORD = re.compile(r"[\W_]+")


class Intent(StrEnum):
    """What a message that names no problem asks of the bot."""

    greeting = "greeting"  # hello, are you there: say what to send
    thanks = "thanks"  # thanks: nothing to do
    ack = "ack"  # OK, got it, an emoji: nothing to do
    report = "report"  # wants to report, has not said what: ask for it
    status = "status"  # how are my reports going (查一下我的工单, 处理了吗): show them
    # A rating (满意, 还行, 没解决), for the ticket waiting for one; the values are the rating scores.
    satisfied = "satisfied"
    basically_satisfied = "basically_satisfied"
    dissatisfied = "dissatisfied"


RATINGS = frozenset({Intent.satisfied, Intent.basically_satisfied, Intent.dissatisfied})
# When a message mixes intents, the one that asks most of the bot wins: 你好，我要反映 asks for a description,
# 没解决，怎么还没人管 rates.
_PRECEDENCE = (
    Intent.dissatisfied,
    Intent.basically_satisfied,
    Intent.satisfied,
    Intent.status,
    Intent.report,
    Intent.greeting,
    Intent.thanks,
    Intent.ack,
)


def intent_of(text: str) -> Intent | None:
    """The intent of a message made only of intents.txt's words; None for a message with anything else in it
    (it may name a problem) or nothing at all."""
    if not text.strip() or len(text) > MAX_CHARS * 2:
        return None
    folded = _NOT_A_WORD.sub("", normalize_text(text).lower())
    if not folded:
        return Intent.ack  # punctuation and emoji only: 👍, 🙏, 。。。
    if len(folded) > MAX_CHARS:
        return None
    intents = _split(folded)
    if intents is None:
        return None
    return next((intent for intent in _PRECEDENCE if intent in intents), Intent.greeting)  # particles alone: greet


def _split(folded: str) -> set[Intent] | None:
    """The intents of the words `folded` is made of (particles add none), or None if it is not made of them."""
    words, longest = _words()
    reached: list[set[Intent] | None] = [set()] + [None] * len(folded)
    for start in range(len(folded)):
        intents = reached[start]
        if intents is None:
            continue
        for end in range(start + 1, min(len(folded), start + longest) + 1):
            piece = folded[start:end]
            if piece in words and reached[end] is None:
                intent = words[piece]
                reached[end] = intents if intent is None else intents | {intent}
    return reached[-1]


@cache
def _words() -> tuple[dict[str, Intent | None], int]:
    """Word → its intent (None for a particle), and the longest word's length."""
    words: dict[str, Intent | None] = {}
    for line in WORDS_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, *entries = line.split()
        for word in entries:
            words.setdefault(word.lower(), None if name == "particle" else Intent(name))
    return words, max(map(len, words))

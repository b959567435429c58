"""Messages that name no problem (你好, 谢谢, 满意, 我要反映, 处理了吗) are told apart from those that do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from nlp.dataio import read_dataset
from nlp.intents import WORDS_FILE, Intent, intent_of
from nlp.urgency import detect

ROOT = Path(__file__).resolve().parents[2]
URGENCY_CASES: dict[str, Any] = yaml.safe_load((Path(__file__).parent / "urgency_cases.yaml").read_text("utf-8"))


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("你好", Intent.greeting),
        ("在吗？", Intent.greeting),
        ("您好，请问在吗", Intent.greeting),
        ("有人吗有人吗", Intent.greeting),
        ("你們好呀", Intent.greeting),  # Traditional characters and a particle
        ("Hello!", Intent.greeting),
        ("谢谢！", Intent.thanks),
        ("收到，辛苦了🙏", Intent.thanks),
        ("Thank you", Intent.thanks),
        ("好的好的", Intent.ack),
        ("ＯＫ", Intent.ack),  # full-width letters
        ("👍", Intent.ack),
        ("。。。", Intent.ack),
        ("你好，我想反映个问题", Intent.report),  # the request for a description wins over the greeting
        ("打扰一下，我要报修", Intent.report),
        ("我要投诉", Intent.report),
        ("很满意，谢谢！", Intent.satisfied),  # the rating wins over the thanks
        ("还行吧", Intent.basically_satisfied),
        ("还没修好，不满意", Intent.dissatisfied),
        ("查一下我的工单", Intent.status),
        ("我反映的问题处理了吗？", Intent.status),
        ("你好，怎么还没人来处理", Intent.status),  # asking about progress wins over the greeting
    ],
)
def test_messages_that_name_no_problem(text: str, intent: Intent) -> None:
    assert intent_of(text) is intent


@pytest.mark.parametrize(
    "text",
    [
        "你好，楼道的灯坏了",
        "怎么还没人来处理垃圾",
        "路灯什么时候修",
        "谢谢，但是路灯还是不亮",
        "好了吗",
        "3号楼",
        "在",
        "救命",
        "煤气",
        "星河公寓",
        "",
        "   ",
        "你好" * 30,  # too long to be small talk
    ],
)
def test_anything_more_is_not_intent_of(text: str) -> None:
    assert intent_of(text) is None


def test_no_hand_written_complaint_or_emergency_is_intent_of() -> None:
    texts = [case["text"] for case in URGENCY_CASES["emergencies"]] + list(URGENCY_CASES["ordinary"])
    assert len(texts) > 500
    assert [text for text in texts if intent_of(text) is not None] == []


def test_no_seed_corpus_report_is_intent_of() -> None:
    texts = read_dataset(ROOT / "config" / "seed_corpus", ["text"], "label").texts
    assert len(texts) > 10_000
    assert [text for text in texts if intent_of(text) is not None] == []


def test_no_intent_word_is_an_emergency() -> None:
    """A word of the list must never keep an emergency from being assessed."""
    words = [
        word
        for line in WORDS_FILE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
        for word in line.split()[1:]
    ]
    assert len(words) > 100
    assert [word for word in words if detect(word).is_urgent] == []

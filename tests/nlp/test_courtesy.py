"""Messages that name no problem (你好, 谢谢, 好的, 我要反映, 处理了吗) are told apart from those that do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from nlp.courtesy import WORDS_FILE, Courtesy, courtesy
from nlp.dataio import read_dataset
from nlp.urgency import detect

ROOT = Path(__file__).resolve().parents[2]
URGENCY_CASES: dict[str, Any] = yaml.safe_load((Path(__file__).parent / "urgency_cases.yaml").read_text("utf-8"))


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("你好", Courtesy.greeting),
        ("在吗？", Courtesy.greeting),
        ("您好，请问在吗", Courtesy.greeting),
        ("有人吗有人吗", Courtesy.greeting),
        ("你們好呀", Courtesy.greeting),  # Traditional characters and a particle
        ("Hello!", Courtesy.greeting),
        ("谢谢！", Courtesy.thanks),
        ("收到，辛苦了🙏", Courtesy.thanks),
        ("Thank you", Courtesy.thanks),
        ("好的好的", Courtesy.ack),
        ("ＯＫ", Courtesy.ack),  # full-width letters
        ("👍", Courtesy.ack),
        ("。。。", Courtesy.ack),
        ("你好，我想反映个问题", Courtesy.intent),  # the request for a description wins over the greeting
        ("打扰一下，我要报修", Courtesy.intent),
        ("我要投诉", Courtesy.intent),
        ("查一下我的工单", Courtesy.status),
        ("我反映的问题处理了吗？", Courtesy.status),
        ("你好，怎么还没人来处理", Courtesy.status),  # asking about progress wins over the greeting
    ],
)
def test_courtesy_only_messages(text: str, kind: Courtesy) -> None:
    assert courtesy(text) is kind


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
def test_anything_more_is_not_courtesy(text: str) -> None:
    assert courtesy(text) is None


def test_no_hand_written_complaint_or_emergency_is_courtesy() -> None:
    texts = [case["text"] for case in URGENCY_CASES["emergencies"]] + list(URGENCY_CASES["ordinary"])
    assert len(texts) > 500
    assert [text for text in texts if courtesy(text) is not None] == []


def test_no_seed_corpus_report_is_courtesy() -> None:
    texts = read_dataset(ROOT / "config" / "seed_corpus", ["text"], "label").texts
    assert len(texts) > 10_000
    assert [text for text in texts if courtesy(text) is not None] == []


def test_no_courtesy_word_is_an_emergency() -> None:
    """A word of the list must never keep an emergency from being assessed."""
    words = [
        word
        for line in WORDS_FILE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
        for word in line.split()[1:]
    ]
    assert len(words) > 100
    assert [word for word in words if detect(word).is_urgent] == []

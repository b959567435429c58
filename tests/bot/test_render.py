"""Notification rendering: every outbox kind becomes neutral messages in the recipient's language."""

from __future__ import annotations

import logging

import pytest

from backend.db.models import Notification
from backend.domain.notifications import RESIDENT_KINDS, STAFF_KINDS, NoticeKind, folded_payload
from backend.texts import t
from backend.workers.outbox import delivery_of
from bot.messages import Outbound, OutboundKind, outbound_to_json
from bot.outbound import delivery_messages
from bot.render import render_notification

PAYLOAD = {
    "number": "GB20261123-0007",
    "status": "dispatched",
    "category": "garbage_piling",
    "priority": "normal",
    "light": "green",
    "text": "怡和花园门口垃圾没人清运",
    "location": "怡和花园",
    "due_at": "2026-11-24T02:30:00+00:00",
}


@pytest.mark.parametrize("kind", RESIDENT_KINDS + STAFF_KINDS)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_outbox_kind_renders_with_the_ticket_number(kind: NoticeKind, lang: str) -> None:
    out = render_notification(kind, dict(PAYLOAD), lang)
    assert out
    text = "\n".join(m.title + m.text for m in out)
    if kind is not NoticeKind.digest:
        assert "GB20261123-0007" in text
    assert "{" not in text  # no unfilled placeholder


def test_resolved_asks_for_a_rating_with_three_buttons() -> None:
    (message,) = render_notification(NoticeKind.resolved, dict(PAYLOAD), "zh")
    assert message.kind is OutboundKind.buttons
    assert [b.label for b in message.buttons] == ["满意", "基本满意", "不满意"]
    assert [b.data for b in message.buttons] == [
        f"rate:GB20261123-0007:{s}" for s in ("satisfied", "basically_satisfied", "dissatisfied")
    ]


def test_a_new_task_is_a_card_with_accept_return_escalate_and_extension() -> None:
    (card,) = render_notification(NoticeKind.task_new, dict(PAYLOAD, priority="urgent"), "zh")
    assert card.kind is OutboundKind.card
    assert [b.label for b in card.buttons] == ["接单", "退回", "吹哨", "申请延期"]
    assert card.buttons[0].data == "task:accept:GB20261123-0007"
    assert "垃圾堆放与清运" in card.text and "紧急" in card.text and "11-24 10:30" in card.text


def test_reports_folded_for_a_dispatcher_are_one_desk_list_with_a_triage_button_each() -> None:
    reasons = ("no_place", "unsure", None)
    items = [dict(PAYLOAD, number=f"GB-{i:02}", reason=reasons[i % 3]) for i in range(12)]
    (card,) = render_notification(NoticeKind.desk_batch, folded_payload(items), "zh")
    assert card.kind is OutboundKind.card and card.title == "待分拨 12 件"
    lines = card.text.splitlines()
    assert all(f"GB-{i:02}" in lines[i] for i in range(12))
    assert "（地点不明）" in lines[0] and "（分类把握不足）" in lines[1] and "（分类把握不足）" in lines[2]
    assert "垃圾堆放与清运" in lines[0] and "怡和花园" not in card.text  # a pointer: no report text or place
    assert [b.data for b in card.buttons] == [f"task:desk:GB-{i:02}" for i in range(10)]


def test_folded_new_tasks_are_one_task_list_whose_buttons_open_each_task() -> None:
    items = [dict(PAYLOAD, number=f"GB-{i}", priority="urgent" if i == 1 else "normal") for i in range(3)]
    (card,) = render_notification(NoticeKind.task_batch, folded_payload(items), "en")
    assert card.title == "3 new tasks" and "due 11-24 10:30" in card.text
    assert [b.data for b in card.buttons] == [f"task:view:GB-{i}" for i in range(3)]
    assert "[URGENT]" in card.text.splitlines()[1] and "[URGENT]" not in card.text.splitlines()[0]


def test_verify_request_offers_verify() -> None:
    (card,) = render_notification(NoticeKind.verify_request, dict(PAYLOAD, status="resolved"), "zh")
    assert card.buttons[0].data == "task:verify:GB20261123-0007"


def test_the_payload_language_wins_and_english_has_no_chinese_labels() -> None:
    (message,) = render_notification(NoticeKind.accepted, dict(PAYLOAD, lang="en"), "zh")
    assert message.text == t("notice.accepted", "en", number="GB20261123-0007")


def test_reason_is_shown_on_reopened_and_escalated() -> None:
    (message,) = render_notification(NoticeKind.reopened, dict(PAYLOAD, note="垃圾还在"), "zh")
    assert "垃圾还在" in message.text
    (card,) = render_notification(NoticeKind.task_escalated, dict(PAYLOAD, reason="需要城管协同"), "zh")
    assert "需要城管协同" in card.text


def test_digest_renders_its_counts() -> None:
    (message,) = render_notification(NoticeKind.digest, {"red": 2, "yellow": 1, "green": 4, "total": 7}, "zh")
    assert "红灯 2" in message.text and "待办 7" in message.text


def _representative_payload(kind: NoticeKind) -> dict[str, object]:
    if kind is NoticeKind.digest:
        return {"red": 1, "yellow": 0, "green": 2, "total": 3, "new": 1, "overdue": []}
    if kind is NoticeKind.chat_reply:
        return outbound_to_json([Outbound.say("您好")])
    return dict(PAYLOAD)


@pytest.mark.parametrize("kind", list(NoticeKind))
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_notice_kind_has_its_own_rendering(kind: NoticeKind, lang: str, caplog: pytest.LogCaptureFixture) -> None:
    payload = {**_representative_payload(kind), "lang": lang}
    row = Notification(key=f"k:{kind}", channel="console", external_id="u", kind=kind.value, payload=payload)
    with caplog.at_level(logging.WARNING, logger="bot.render"):
        out = delivery_messages(delivery_of(row))
    text = "\n".join(m.title + m.text for m in out)
    assert text.strip() and "{" not in text
    assert not [r for r in caplog.records if "no rendering" in r.getMessage()], "fell back to the generic text"


def test_a_kind_read_back_as_a_plain_string_renders_like_the_enum() -> None:
    assert render_notification("task_new", dict(PAYLOAD), "en") == render_notification(
        NoticeKind.task_new, dict(PAYLOAD), "en"
    )

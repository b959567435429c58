"""WeChat's passive answer: button messages written whole into the text as menu links where they can be."""

from __future__ import annotations

from bot.messages import Button, Inbound, InboundKind, Outbound
from bot.webhook.deadline import passive_split
from bot.wechat.links import MAX_TEXT_BYTES, with_links
from tests.bot.platform_drivers import passive_message

WECHAT = Inbound("wechat", "o1", InboundKind.text, text="路灯坏了", message_id="1")
TELEGRAM = Inbound("telegram", "1", InboundKind.text, text="路灯坏了", message_id="1")
QUESTION = Outbound.choose(
    "请选择所在社区：", Button("丰产路社区", "community:LC0101"), Button("黄河路社区", "community:LC0102")
)


def test_a_question_goes_whole_in_the_passive_text_and_nothing_waits_for_the_outbox() -> None:
    text, queued = passive_split(WECHAT)([Outbound.say("已记录。"), QUESTION])
    assert queued == []
    seen = passive_message(text)
    assert seen.text == "已记录。\n\n请选择所在社区："
    assert seen.buttons == QUESTION.buttons


def test_buttons_a_link_would_garble_go_as_a_menu_with_the_text_passive() -> None:
    for button in (
        Button("Not sure", "cat:unsure"),
        Button("A&B", "cat:x"),
        Button("丰产路", "社区:1"),
        Button("x", ""),
    ):
        question = Outbound.choose("请选择：", button)
        assert with_links(question) is None
        text, queued = passive_split(WECHAT)([question])
        assert text == "请选择：" and [m.buttons for m in queued] == [(button,)] and queued[0].text == ""


def test_a_question_after_a_menu_goes_as_a_menu_too_so_the_order_holds() -> None:
    menu_only = Outbound.choose("Pick one:", Button("Not sure", "cat:unsure"))
    text, queued = passive_split(WECHAT)([menu_only, QUESTION])
    assert "weixin://" not in text and [m.buttons for m in queued] == [menu_only.buttons, QUESTION.buttons]


def test_links_beyond_the_text_limit_go_as_a_menu() -> None:
    many = Outbound.choose("请选择小区：", *(Button(f"第{i}小区名称很长很长", f"estate:LC0101:{i}") for i in range(30)))
    text, queued = passive_split(WECHAT)([many])
    assert len(text.encode()) <= MAX_TEXT_BYTES and "weixin://" not in text
    assert [m.buttons for m in queued] == [many.buttons]


def test_other_channels_keep_their_buttons_for_the_outbox() -> None:
    text, queued = passive_split(TELEGRAM)([QUESTION])
    assert text == "请选择所在社区：" and [m.buttons for m in queued] == [QUESTION.buttons]

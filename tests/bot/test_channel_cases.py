"""Chat channels as residents and staff really use them (issue 17): a Telegram photo with a caption, a bot in a
community group, a refused WeCom card press, a WeChat photo whose PicUrl cannot be fetched, the order of a new
report's notices, a photo sent after the report. Real webhooks, real senders, fake platform servers."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.channels are parameters here)

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Attachment, ChannelIdentity, InboundMessage, Notification, Staff, Ticket
from backend.domain.notifications import NoticeKind
from backend.runtime import Runtime
from backend.services.intake import ReportIn, create_ticket
from backend.services.notify import ticket_payload
from backend.services.people import resident_for
from backend.texts import t
from bot.render import render_notification
from tests.fakes.channels import (  # noqa: F401  (fixtures)
    TELEGRAM_SECRET,
    WECOM_AGENT_ID,
    WECOM_CORP_ID,
    chat_runtime,
    client,
    telegram_api,
    wechat,
    wechat_api,
    wecom,
)
from tests.fakes.server import Answer
from tests.fakes.telegram import BOT_USER, FakeTelegramAPI, photo_update, text_update, user
from tests.fakes.wechat import FakeWeChatAPI, WeChatPlatform, message_xml

HEADERS = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
GROUP = -1001234567890
CAPTION = "怡和花园门口的垃圾堆了三天没人清运，臭味很大"


def tg(client: TestClient, update: dict[str, Any]) -> None:
    response = client.post("/telegram/webhook", json=update, headers=HEADERS)
    assert response.status_code == 200, response.text


def tickets(session_factory: sessionmaker[Session]) -> list[Ticket]:
    with session_factory() as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def photos_of(session_factory: sessionmaker[Session], number: str) -> list[str]:
    with session_factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        return [a.stage for a in session.scalars(select(Attachment).where(Attachment.ticket_id == ticket.id))]


def group_update(update_id: int, text: str, *, entities: list[dict[str, Any]] | None = None, **extra: Any) -> dict:
    """A supergroup message as Telegram sends it to a bot (privacy mode off: every message arrives)."""
    msg: dict[str, Any] = {
        "message_id": update_id,
        "date": 1795000000,
        "chat": {"id": GROUP, "type": "supergroup", "title": "丰产路邻里群"},
        "from": user(222),
        "text": text,
        **extra,
    }
    if entities:
        msg["entities"] = entities
    return {"update_id": update_id, "message": msg}


# -- Telegram: a photo with a caption ------------------------------------------------------------------------


def test_a_telegram_photo_with_a_caption_is_one_report_with_its_photo(
    client: TestClient, telegram_api: FakeTelegramAPI, session_factory: sessionmaker[Session]
) -> None:
    telegram_api.files["P1"] = PNG
    tg(client, photo_update(11, "P1", caption=CAPTION))
    [ticket] = tickets(session_factory)
    assert ticket.text == CAPTION and ticket.category_code == "garbage_piling"
    assert photos_of(session_factory, ticket.number) == ["report"]
    texts = [m["text"] for m in telegram_api.sent("sendMessage")]
    assert ticket.number in texts[0] and t("report.photo_first", "zh") not in texts


# -- Telegram: a bot in a community group --------------------------------------------------------------------


def test_a_group_message_not_meant_for_the_bot_gets_no_answer_and_no_ticket(
    client: TestClient, telegram_api: FakeTelegramAPI, session_factory: sessionmaker[Session]
) -> None:
    tg(client, group_update(21, "楼下的路灯又坏了，谁知道找谁修？"))
    tg(client, group_update(22, "/report@someone_else_bot 路灯坏了", entities=[_command("/report@someone_else_bot")]))
    assert telegram_api.sent("sendMessage") == []
    assert tickets(session_factory) == []


def test_an_edit_in_a_group_gets_no_answer_even_when_it_mentions_the_bot(
    client: TestClient, telegram_api: FakeTelegramAPI, session_factory: sessionmaker[Session]
) -> None:
    mention = "@" + str(BOT_USER["username"])
    edited = group_update(
        23, f"{mention} 路灯坏了", entities=[{"type": "mention", "offset": 0, "length": len(mention)}]
    )
    edited["edited_message"] = {**edited.pop("message"), "edit_date": 1795000060}
    tg(client, edited)
    assert telegram_api.sent("sendMessage") == []
    assert tickets(session_factory) == []


def _command(text: str) -> dict[str, Any]:
    return {"type": "bot_command", "offset": 0, "length": len(text)}


def test_a_group_message_for_the_bot_is_answered_in_the_group_without_ticket_details(
    client: TestClient,
    telegram_api: FakeTelegramAPI,
    session_factory: sessionmaker[Session],
    chat_runtime: Runtime,
) -> None:
    with session_factory() as session:  # a resident's open ticket, which the group must never see
        person = resident_for(session, channel="telegram", external_id="222")
        mine = create_ticket(
            session,
            chat_runtime,
            ReportIn(text="路灯坏了", channel="telegram", reporter_id=person.id, area_code="LC010101"),
        )
        session.commit()
        number = mine.number
    mention = "@" + BOT_USER["username"]
    reply_to_bot = {"message_id": 7, "date": 1795000000, "chat": {"id": GROUP, "type": "supergroup"}, "from": BOT_USER}
    cases = [
        group_update(
            31, f"{mention} 查询 {number}", entities=[{"type": "mention", "offset": 0, "length": len(mention)}]
        ),
        group_update(32, f"/start@{BOT_USER['username']}", entities=[_command(f"/start@{BOT_USER['username']}")]),
        group_update(33, "路灯还没修好", reply_to_message=reply_to_bot),
    ]
    for update in cases:
        tg(client, update)
    sent = telegram_api.sent("sendMessage")
    in_group = [m for m in sent if str(m["chat_id"]) == str(GROUP)]
    assert len(in_group) == 3  # answered in the group, never to the sender privately
    assert [m for m in sent if m not in in_group and str(m["chat_id"]) != "222"] == []
    assert all(number not in m["text"] for m in sent if str(m["chat_id"]) == "222" and "已派给" not in m["text"])
    for message in in_group:
        assert message["text"] == t("group.private", "zh", link=f" https://t.me/{BOT_USER['username']}")
        assert number not in message["text"] and "路灯" not in message["text"]
        assert not message.get("reply_markup")
    assert [t.number for t in tickets(session_factory)] == [number]


# -- WeCom: a card press the backend refuses -----------------------------------------------------------------


def _wecom_post(client: TestClient, wecom: WeChatPlatform, xml: str) -> str:
    signed = wecom.sign(xml)
    response = client.post("/wecom", params=signed.params, content=signed.body)
    assert response.status_code == 200, response.text
    return response.text


def _card_press(key: str, task: str, who: str) -> str:
    fields = {"Event": "template_card_event", "EventKey": key, "TaskId": task, "CardType": "button_interaction"}
    return message_xml("event", {**fields, "ResponseCode": f"rc-{task}"}, from_user=who, to_user=WECOM_CORP_ID)


def test_a_refused_wecom_card_press_relabels_the_button_with_the_reason(
    client: TestClient,
    wecom: WeChatPlatform,
    chat_runtime: Runtime,
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        for code in ("GW001", "GW002"):
            staff = session.scalars(select(Staff).where(Staff.code == code)).one()
            session.add(ChannelIdentity(person_id=staff.person_id, channel="wecom", external_id=code))
        person = resident_for(session, channel="wechat", external_id="oRES_card")
        ticket = create_ticket(
            session,
            chat_runtime,
            ReportIn(text="怡和花园门口垃圾没人清运", channel="wechat", reporter_id=person.id, area_code="LC010101"),
        )
        session.commit()
        accept = render_notification(NoticeKind.task_new, ticket_payload(ticket), "zh")[-1].buttons[0].data
        number = ticket.number
    # GW002 works another grid: the press is refused, and the card says so with the reason.
    refused = wecom.open_reply(_wecom_post(client, wecom, _card_press(accept, "tid_a", "GW002")))
    assert refused["MsgType"] == "update_button"
    assert "<ReplaceName><![CDATA[未执行：" in refused["Button"]
    # The assignee's press goes through: the card says what was done.
    done = wecom.open_reply(_wecom_post(client, wecom, _card_press(accept, "tid_b", "GW001")))
    assert f"<ReplaceName><![CDATA[✓ {t('verb.accept', 'zh')}]]>" in done["Button"]
    # Pressing the old card again: already accepted, refused with the reason, nothing changes.
    again = wecom.open_reply(_wecom_post(client, wecom, _card_press(accept, "tid_c", "GW001")))
    assert "未执行：" in again["Button"]
    with session_factory() as session:
        assert session.scalar(select(Ticket.status).where(Ticket.number == number)) == "accepted"
        queued = session.scalars(select(Notification).where(Notification.channel == "wecom")).all()
    said = {
        who: [m for row in queued if row.external_id == who for m in row.payload.get("messages", [])]
        for who in ("GW001", "GW002")
    }
    # The full answer still comes as a message: GW002 cannot see the ticket; GW001's second press was refused.
    assert [m["text"] for m in said["GW002"]] == [t("ticket.not_found", "zh", number=number)]
    assert any(m["text"].startswith(t("action.refused", "zh", reason="")) for m in said["GW001"])
    assert all(m["kind"] != "card_label" for messages in said.values() for m in messages)


# -- WeChat: a photo whose PicUrl cannot be fetched ----------------------------------------------------------


def _wechat_post(client: TestClient, wechat: WeChatPlatform, xml: str) -> dict[str, str]:
    signed = wechat.sign(xml)
    response = client.post("/wechat", params=signed.params, content=signed.body)
    assert response.status_code == 200, response.text
    return wechat.open_reply(response.text)


def test_a_wechat_photo_with_an_unfetchable_picurl_is_fetched_by_media_id(
    client: TestClient, wechat: WeChatPlatform, wechat_api: FakeWeChatAPI, session_factory: sessionmaker[Session]
) -> None:
    wechat_api.media["MEDIA_1"] = PNG
    wechat_api.script.push("/pic/gone.png", Answer(404, b"expired", "text/plain"))
    for n, url in enumerate([f"{wechat_api.url}/pic/gone.png", "weixin://not-http", ""], start=1):
        media = "MEDIA_1"
        reply = _wechat_post(
            client,
            wechat,
            message_xml("image", {"PicUrl": url, "MediaId": media}, from_user=f"oPIC{n}", msg_id=str(8100 + n)),
        )
        assert reply["Content"] == t("report.photo_first", "zh"), reply
    assert [c.query["media_id"] for c in wechat_api.calls_to("/media/get")] == ["MEDIA_1"] * 3
    # The words that follow make the report, with the photo fetched by MediaId.
    _wechat_post(client, wechat, message_xml("text", {"Content": CAPTION}, from_user="oPIC1", msg_id="8110"))
    [ticket] = tickets(session_factory)
    assert photos_of(session_factory, ticket.number) == ["report"]


def test_a_wechat_photo_the_platform_will_not_give_keeps_the_report(
    client: TestClient, wechat: WeChatPlatform, wechat_api: FakeWeChatAPI, session_factory: sessionmaker[Session]
) -> None:
    reply = _wechat_post(
        client,
        wechat,
        message_xml("image", {"PicUrl": "ftp://x/y.png", "MediaId": "EXPIRED"}, from_user="oPIC9", msg_id="8201"),
    )
    assert reply["Content"] == t("photo.unavailable", "zh")
    _wechat_post(client, wechat, message_xml("text", {"Content": CAPTION}, from_user="oPIC9", msg_id="8202"))
    [ticket] = tickets(session_factory)
    assert ticket.text == CAPTION and photos_of(session_factory, ticket.number) == []


# -- the order of a new report's notices ----------------------------------------------------------------------


def test_the_confirmation_with_the_number_comes_before_dispatched(
    client: TestClient, telegram_api: FakeTelegramAPI, session_factory: sessionmaker[Session]
) -> None:
    tg(client, text_update(41, CAPTION))
    [ticket] = tickets(session_factory)
    assert ticket.status == "dispatched"
    texts = [m["text"] for m in telegram_api.sent("sendMessage") if str(m["chat_id"]) == "111"]
    confirmation = next(i for i, text in enumerate(texts) if ticket.number in text and "已受理" in text)
    dispatched = next(i for i, text in enumerate(texts) if "已派给网格员" in text)
    assert confirmation < dispatched
    with session_factory() as session:
        rows = session.scalars(select(Notification).where(Notification.external_id == "111")).all()
        stored = session.scalar(select(InboundMessage.reply).where(InboundMessage.message_key == "41"))
    # One outbox row carries both, in order: no separate "dispatched" row can overtake the reply.
    assert [r.kind for r in rows] == [NoticeKind.chat_reply]
    assert stored is not None and "已派给网格员" in stored["messages"][-1]["text"]


# -- a photo after the report; asking for evidence ------------------------------------------------------------


def test_a_photo_after_the_report_joins_it_and_evidence_is_asked_for(
    client: TestClient, telegram_api: FakeTelegramAPI, session_factory: sessionmaker[Session]
) -> None:
    tg(client, text_update(51, "建设路12号门口有人私搭乱建，占了消防通道"))
    [ticket] = tickets(session_factory)
    assert ticket.category_code == "illegal_construction"
    texts = [m["text"] for m in telegram_api.sent("sendMessage")]
    assert t("report.photo_wanted", "zh", number=ticket.number) in texts
    telegram_api.files["P2"] = PNG
    tg(client, photo_update(52, "P2"))
    assert len(tickets(session_factory)) == 1
    assert photos_of(session_factory, ticket.number) == ["report"]
    assert telegram_api.sent("sendMessage")[-1]["text"] == t("details.photo_added", "zh", number=ticket.number)


def test_no_evidence_is_asked_for_when_the_report_came_with_a_photo(
    client: TestClient, telegram_api: FakeTelegramAPI, session_factory: sessionmaker[Session]
) -> None:
    telegram_api.files["P3"] = PNG
    tg(client, photo_update(61, "P3", caption="建设路12号门口有人私搭乱建，占了消防通道"))
    [ticket] = tickets(session_factory)
    texts = [m["text"] for m in telegram_api.sent("sendMessage")]
    assert not any("需要照片作为依据" in text for text in texts)
    assert photos_of(session_factory, ticket.number) == ["report"]

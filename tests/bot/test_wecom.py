"""WeCom (wechatpy.enterprise) against the fake platform: URL verification, encrypted messages, template
cards sent by the outbox sender, and a card button press that accepts a task."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.channels are parameters here)

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import ChannelIdentity, Notification, Staff, Ticket
from backend.domain.notifications import NoticeKind
from backend.runtime import Runtime
from backend.services.intake import ReportIn, create_ticket
from backend.services.notify import ticket_payload
from backend.services.people import resident_for
from backend.texts import t
from backend.workers.channels import BlockedError
from backend.workers.outbox import delivery_of
from bot.render import render_notification
from bot.wecom.send import WeComSender, make_wecom_client, task_id, template_card
from tests.fakes.channels import (  # noqa: F401  (fixtures)
    WECOM_AGENT_ID,
    WECOM_CORP_ID,
    chat_runtime,
    client,
    telegram_api,
    wechat_api,
    wecom,
)
from tests.fakes.server import Answer
from tests.fakes.wechat import FakeWeChatAPI, WeChatPlatform, message_xml

WORKER = "GW001"  # gridworker of 丰产路社区第一网格
GRID_POINT = (113.5895, 34.73925)


def post(client: TestClient, wecom: WeChatPlatform, xml: str) -> dict[str, str]:
    signed = wecom.sign(xml)
    response = client.post("/wecom", params=signed.params, content=signed.body)
    assert response.status_code == 200, response.text
    return wecom.open_reply(response.text)


@pytest.fixture
def bound_worker(session_factory: sessionmaker[Session]) -> str:
    """GW001's WeCom account bound to their staff record (as the bind-code flow leaves it)."""
    with session_factory() as session:
        staff = session.scalar(select(Staff).where(Staff.code == WORKER))
        assert staff is not None
        session.add(ChannelIdentity(person_id=staff.person_id, channel="wecom", external_id=WORKER))
        session.commit()
    return WORKER


@pytest.fixture
def sender(chat_runtime: Runtime) -> Iterator[WeComSender]:
    s = WeComSender(make_wecom_client(chat_runtime.settings), agent_id=WECOM_AGENT_ID)
    yield s
    s.close()


def test_url_verification_returns_the_decrypted_echostr(client: TestClient, wecom: WeChatPlatform) -> None:
    response = client.get("/wecom", params=wecom.verify_params("wecom-echo-7"))
    assert response.status_code == 200
    assert response.text == "wecom-echo-7"


def test_url_verification_with_a_wrong_signature_is_refused(client: TestClient, wecom: WeChatPlatform) -> None:
    params = {**wecom.verify_params("x"), "msg_signature": "0" * 40}
    assert client.get("/wecom", params=params).status_code == 403


def test_a_text_message_gets_an_encrypted_passive_reply(client: TestClient, wecom: WeChatPlatform) -> None:
    reply = post(
        client,
        wecom,
        message_xml(
            "event", {"Event": "subscribe"}, from_user="zhangsan", to_user=WECOM_CORP_ID, agent_id=WECOM_AGENT_ID
        ),
    )
    assert reply["ToUserName"] == "zhangsan"
    assert reply["Content"] == t("welcome", "zh")


def test_the_sender_sends_a_task_as_a_template_card(sender: WeComSender, wechat_api: FakeWeChatAPI) -> None:
    payload = {
        "number": "GB20261123-0003",
        "status": "dispatched",
        "category": "garbage_piling",
        "priority": "normal",
        "light": "green",
        "text": "垃圾没人清运",
        "location": "怡和花园",
        "due_at": None,
        "lang": "zh",
    }
    row = Notification(key="t3:e2:p9:task_new", channel="wecom", external_id=WORKER, kind="task_new", payload=payload)
    sender.send(delivery_of(row))
    cards = [b for b in wechat_api.sent("message/send") if b["msgtype"] == "template_card"]
    assert len(cards) == 1
    card = cards[0]
    assert (card["touser"], card["agentid"]) == (WORKER, WECOM_AGENT_ID)
    expected = [b.data for m in render_notification(NoticeKind.task_new, payload, "zh") for b in m.buttons]
    assert [b["key"] for b in card["template_card"]["button_list"]] == expected[:6]
    assert card["template_card"]["card_type"] == "button_interaction"
    assert card["template_card"]["task_id"] == task_id(row.key, 0)
    assert wechat_api.calls_to("/cgi-bin/gettoken"), "the token must come from the configured API base"


def test_a_member_outside_the_app_is_blocked(sender: WeComSender, wechat_api: FakeWeChatAPI) -> None:
    wechat_api.script.push("message/send", Answer.json({"errcode": 0, "errmsg": "ok", "invaliduser": WORKER}))
    row = Notification(
        key="k",
        channel="wecom",
        external_id=WORKER,
        kind=NoticeKind.chat_reply,
        payload={
            "messages": [{"kind": "buttons", "text": "任务", "buttons": [{"label": "接单", "data": "task:accept:GB1"}]}]
        },
    )
    with pytest.raises(BlockedError):
        sender.send(delivery_of(row))


def test_card_titles_and_buttons_respect_wecom_limits() -> None:
    from bot.messages import Button, Outbound, OutboundKind

    message = Outbound(
        OutboundKind.card,
        title="标" * 40,
        text="正" * 300,
        buttons=tuple(Button(f"按钮{i}", f"d{i}") for i in range(9)),
    )
    card = template_card(message, "tid_0")
    assert len(card["main_title"]["title"]) <= 26 and len(card["sub_title_text"]) <= 112
    assert len(card["button_list"]) == 6
    untitled = template_card(Outbound.choose("请选择处理方式", Button("接单", "a")), "tid_1")
    assert "main_title" not in untitled and untitled["sub_title_text"] == "请选择处理方式"


def test_a_card_button_press_accepts_the_task(
    client: TestClient,
    wecom: WeChatPlatform,
    bound_worker: str,
    chat_runtime: Runtime,
    session_factory: sessionmaker[Session],
    sender: WeComSender,
    wechat_api: FakeWeChatAPI,
) -> None:
    with session_factory() as session:
        person = resident_for(session, channel="wechat", external_id="oRESIDENT_wecom")
        ticket = create_ticket(
            session,
            chat_runtime,
            ReportIn(
                text="怡和花园门口的垃圾好几天没人清运了",
                channel="wechat",
                reporter_id=person.id,
                lon=GRID_POINT[0],
                lat=GRID_POINT[1],
                category_code="garbage_piling",
            ),
        )
        session.commit()
        number, status = ticket.number, ticket.status
        payload = ticket_payload(ticket)
    assert status == "dispatched"
    accept = render_notification(NoticeKind.task_new, payload, "zh")[-1].buttons[0].data
    post(
        client,
        wecom,
        message_xml(
            "event",
            {
                "Event": "template_card_event",
                "EventKey": accept,
                "TaskId": "tid_1",
                "CardType": "button_interaction",
                "ResponseCode": "rc1",
            },
            from_user=WORKER,
            to_user=WECOM_CORP_ID,
            agent_id=WECOM_AGENT_ID,
        ),
    )
    with session_factory() as session:
        assert session.scalar(select(Ticket.status).where(Ticket.number == number)) == "accepted"
        queued = session.scalar(
            select(Notification).where(Notification.kind == NoticeKind.chat_reply, Notification.channel == "wecom")
        )
    assert queued is not None and queued.external_id == WORKER
    sender.send(delivery_of(queued))
    assert wechat_api.sent("message/send"), "the answer to a card press goes out as an application message"

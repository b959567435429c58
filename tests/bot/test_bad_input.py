"""Hostile and odd input on every webhook: bad signatures, XML attacks, huge bodies, odd messages, and the
same WeChat MsgId delivered three times at once."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.channels are parameters here)

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import ChannelIdentity, ConversationState, InboundMessage, Notification, Person, Ticket
from backend.runtime import Runtime
from backend.texts import t
from tests.fakes.channels import (  # noqa: F401  (fixtures)
    TELEGRAM_SECRET,
    build_channel_app,
    chat_runtime,
    client,
    own_database,
    telegram_api,
    wechat,
    wechat_api,
    wechat_mode,
    wecom,
)
from tests.fakes.telegram import FakeTelegramAPI, sticker_update, text_update
from tests.fakes.wechat import WeChatPlatform, message_xml

OPENID = "oRESIDENT_bad_1"
URGENT = "怡和花园3号楼楼道里燃气泄漏，闻到很浓的煤气味，很危险"

XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    f"<xml><ToUserName>gh</ToUserName><FromUserName>{OPENID}</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    f"<xml><ToUserName>gh</ToUserName><FromUserName>{OPENID}</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&d;</Content><MsgId>2</MsgId></xml>"
)
PARAMETER_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/x.dtd"> %ext;]>'
    "<xml><MsgType>text</MsgType></xml>"
)
MALFORMED = [
    f"<xml><FromUserName>{OPENID}</FromUserName><MsgType>text",
    "not xml at all",
    "<xml></xm>",
    "<other><MsgType>text</MsgType></other>",
    f"<xml><FromUserName>{OPENID}</FromUserName></xml>",
]


def stored(session_factory: sessionmaker[Session]) -> dict[str, int]:
    """Row counts of everything a message could leave behind."""
    with session_factory() as session:
        return {
            m.__name__: session.scalar(select(func.count()).select_from(m)) or 0
            for m in (Person, ChannelIdentity, Ticket, InboundMessage, ConversationState, Notification)
        }


def test_a_wrong_wechat_signature_is_403_and_stores_nothing(
    client: TestClient, wechat: WeChatPlatform, wechat_mode: str, session_factory: sessionmaker[Session]
) -> None:
    before = stored(session_factory)
    signed = wechat.sign(message_xml("text", {"Content": URGENT}, from_user=OPENID, msg_id="1"))
    for name in ("signature", "msg_signature"):
        if name in signed.params:
            response = client.post("/wechat", params={**signed.params, name: "0" * 40}, content=signed.body)
            assert response.status_code == 403
    assert stored(session_factory) == before


def test_a_wrong_wecom_signature_is_403_and_stores_nothing(
    client: TestClient, wecom: WeChatPlatform, session_factory: sessionmaker[Session]
) -> None:
    before = stored(session_factory)
    signed = wecom.sign(message_xml("text", {"Content": "接单"}, from_user="GW001", msg_id="1", agent_id=1000002))
    response = client.post("/wecom", params={**signed.params, "msg_signature": "0" * 40}, content=signed.body)
    assert response.status_code == 403
    assert stored(session_factory) == before


def test_a_wrong_telegram_secret_is_403_and_stores_nothing(
    client: TestClient, telegram_api: FakeTelegramAPI, session_factory: sessionmaker[Session]
) -> None:
    before = stored(session_factory)
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
        response = client.post("/telegram/webhook", json=text_update(1, URGENT), headers=headers)
        assert response.status_code == 403
    assert stored(session_factory) == before
    assert telegram_api.sent("sendMessage") == []


@pytest.mark.parametrize(
    "payload",
    [XXE, LAUGHS, PARAMETER_ENTITY, *MALFORMED],
    ids=["xxe", "billion-laughs", "parameter-entity", "truncated", "text", "mismatched", "wrong-root", "no-msgtype"],
)
def test_hostile_or_malformed_wechat_xml_is_400_and_stores_nothing(
    client: TestClient, wechat: WeChatPlatform, wechat_mode: str, payload: str, session_factory: sessionmaker[Session]
) -> None:
    before = stored(session_factory)
    signed = wechat.sign(payload)
    response = client.post("/wechat", params=signed.params, content=signed.body)
    assert response.status_code == 400
    assert stored(session_factory) == before


@pytest.mark.parametrize("payload", [XXE, LAUGHS, MALFORMED[0]], ids=["xxe", "billion-laughs", "truncated"])
def test_hostile_wecom_xml_is_400_and_stores_nothing(
    client: TestClient, wecom: WeChatPlatform, payload: str, session_factory: sessionmaker[Session]
) -> None:
    before = stored(session_factory)
    signed = wecom.sign(payload)
    assert client.post("/wecom", params=signed.params, content=signed.body).status_code == 400
    outer = wecom.sign("<xml/>")
    hostile_outer = XXE.encode()
    assert client.post("/wecom", params=outer.params, content=hostile_outer).status_code == 400
    assert stored(session_factory) == before


def test_malformed_telegram_json_is_400(client: TestClient) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET, "Content-Type": "application/json"}
    assert client.post("/telegram/webhook", content=b"{not json", headers=headers).status_code == 400
    assert client.post("/telegram/webhook", content=b"[1, 2]", headers=headers).status_code == 400


def test_an_unknown_wechat_message_type_gets_a_polite_reply(
    client: TestClient, wechat: WeChatPlatform, wechat_mode: str
) -> None:
    card = {"Title": "小程序", "AppId": "wx123", "PagePath": "pages/index", "ThumbUrl": "x", "ThumbMediaId": "t1"}
    signed = wechat.sign(message_xml("miniprogrampage", card, from_user=OPENID, msg_id="3"))
    response = client.post("/wechat", params=signed.params, content=signed.body)
    assert wechat.open_reply(response.text)["Content"] == t("unsupported", "zh")


def test_an_unknown_telegram_message_type_gets_a_polite_reply(
    client: TestClient, telegram_api: FakeTelegramAPI
) -> None:
    response = client.post(
        "/telegram/webhook", json=sticker_update(4), headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    )
    assert response.status_code == 200
    assert [m["text"] for m in telegram_api.sent("sendMessage")] == [t("unsupported", "zh")]


def test_an_empty_text_is_handled(client: TestClient, wechat: WeChatPlatform) -> None:
    signed = wechat.sign(message_xml("text", {"Content": ""}, from_user=OPENID, msg_id="4"))
    response = client.post("/wechat", params=signed.params, content=signed.body)
    assert wechat.open_reply(response.text)["Content"] == t("empty", "zh")


def test_a_10mb_body_is_413(client: TestClient, wechat: WeChatPlatform) -> None:
    signed = wechat.sign("<xml>" + "x" * (10 * 1024 * 1024) + "</xml>")
    assert client.post("/wechat", params=signed.params, content=signed.body).status_code == 413
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}

    def chunks() -> Iterator[bytes]:  # no Content-Length: the route must count as it reads
        for _ in range(10):
            yield b" " * (1024 * 1024)

    assert client.post("/telegram/webhook", content=chunks(), headers=headers).status_code == 413


def test_the_same_msgid_three_times_at_once_makes_one_ticket_and_one_reply(
    chat_runtime: Runtime, own_database: sessionmaker[Session], wechat: WeChatPlatform
) -> None:
    factory = own_database
    signed = wechat.sign(message_xml("text", {"Content": URGENT}, from_user=OPENID, msg_id="424242"))
    barrier = threading.Barrier(3)
    replies: list[str] = []
    with TestClient(build_channel_app(chat_runtime, factory)) as c:

        def deliver() -> None:
            barrier.wait()
            response = c.post("/wechat", params=signed.params, content=signed.body)
            assert response.status_code == 200
            replies.append(response.text)

        threads = [threading.Thread(target=deliver) for _ in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    answered = [wechat.open_reply(r) for r in replies if r != "success"]
    assert len(replies) == 3 and len(answered) == 1
    with factory() as session:
        tickets = session.scalars(select(Ticket)).all()
        assert len(tickets) == 1 and tickets[0].priority == "urgent"
        assert tickets[0].number in answered[0]["Content"]

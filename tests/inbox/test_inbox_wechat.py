"""WeChat OA and WeCom with the durable inbox: signed (and AES) XML to /wechat and /wecom is stored; a processor
of the same process answering within the wait gives the passive reply, a later answer goes through the outbox
as a customer-service message, a replayed MsgId stores nothing, and past the backlog bound the resident is told
at once that the answer comes later."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.channels are parameters here)

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.api.app import create_app
from backend.db.models import InboundMessage, InboxMessage, Notification
from backend.runtime import Runtime
from backend.texts import t
from backend.workers.outbox import drain_once
from bot.adapters import mount_channels
from bot.chatbot import Chatbot
from bot.inbox import InboxProcessor, ProcessorConfig, store_inbound
from bot.messages import Inbound, InboundKind
from bot.webhook.inbox_wait import WAITERS
from bot.wechat.send import WeChatSender, make_wechat_client
from tests.fakes.channels import (  # noqa: F401  (fixtures)
    WECOM_AGENT_ID,
    WECOM_CORP_ID,
    chat_runtime,
    own_database,
    telegram_api,
    wechat,
    wechat_api,
    wechat_mode,
    wecom,
)
from tests.fakes.wechat import FakeWeChatAPI, WeChatPlatform, message_xml

OPENID = "oRESIDENT_inbox_1"


@dataclasses.dataclass
class Service:
    client: TestClient
    factory: sessionmaker[Session]
    chat: Chatbot
    runtime: Runtime

    def processor(self, name: str = "p1") -> InboxProcessor:
        return InboxProcessor(
            self.factory, self.chat, worker_id=name, config=ProcessorConfig(idle_sleep=0.01), waiters=WAITERS
        )


def service(runtime: Runtime, factory: sessionmaker[Session], **settings: Any) -> Iterator[Service]:
    values = {"inbox_enabled": True, "inbox_serve_processors": 1, "inbox_reply_wait_seconds": 4.0, **settings}
    runtime = dataclasses.replace(runtime, settings=runtime.settings.model_copy(update=values))
    chat = Chatbot(runtime, factory)
    app = create_app(runtime, factory)
    mount_channels(app, runtime, factory, chat)
    with TestClient(app) as client:
        yield Service(client, factory, chat, runtime)


@pytest.fixture
def waiting(chat_runtime: Runtime, own_database: sessionmaker[Session]) -> Iterator[Service]:
    """The app with the inbox on and a processor thread of its own, as `gridbot serve` runs it."""
    for s in service(chat_runtime, own_database):
        stop = threading.Event()
        thread = threading.Thread(target=s.processor().run, args=(stop,), daemon=True)
        thread.start()
        yield s
        stop.set()
        thread.join(10)


def post(s: Service, platform: WeChatPlatform, path: str, xml: str) -> tuple[dict[str, str], float]:
    signed = platform.sign(xml)
    started = time.monotonic()
    response = s.client.post(path, params=signed.params, content=signed.body)
    took = time.monotonic() - started
    assert response.status_code == 200, response.text
    return platform.open_reply(response.text), took


def rows(factory: sessionmaker[Session], model: type, *where: Any) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def queued_texts(factory: sessionmaker[Session], channel: str) -> list[str]:
    with factory() as session:
        notes = session.scalars(select(Notification).where(Notification.channel == channel)).all()
        return [m.get("text", "") for n in notes for m in n.payload["messages"]]


def test_the_turn_finished_within_the_wait_is_the_passive_reply(
    waiting: Service, wechat: WeChatPlatform, wechat_mode: str
) -> None:
    reply, _ = post(waiting, wechat, "/wechat", message_xml("event", {"Event": "subscribe"}, from_user=OPENID))
    assert reply["ToUserName"] == OPENID
    assert reply["Content"] == t("welcome", "zh")
    assert rows(waiting.factory, InboxMessage) == 1
    assert queued_texts(waiting.factory, "wechat") == []  # answered passively, nothing pushed


def test_a_replayed_msgid_stores_nothing_and_gets_no_second_answer(waiting: Service, wechat: WeChatPlatform) -> None:
    xml = message_xml("text", {"Content": "你好"}, from_user=OPENID, msg_id="777001")
    first, _ = post(waiting, wechat, "/wechat", xml)
    assert first["Content"]
    again, _ = post(waiting, wechat, "/wechat", xml)  # WeChat's retry of the same MsgId
    assert again == {}
    assert rows(waiting.factory, InboxMessage) == 1
    assert rows(waiting.factory, InboundMessage, InboundMessage.channel == "wechat") == 1


def test_an_answer_later_than_the_wait_goes_out_as_a_customer_service_message(
    chat_runtime: Runtime, own_database: sessionmaker[Session], wechat: WeChatPlatform, wechat_api: FakeWeChatAPI
) -> None:
    for s in service(chat_runtime, own_database, inbox_reply_wait_seconds=0.3):  # no processor runs yet
        reply, took = post(s, wechat, "/wechat", message_xml("event", {"Event": "subscribe"}, from_user=OPENID))
        assert reply == {} and 0.3 <= took < 4.0
        assert s.processor().process_once() == 1
        assert queued_texts(own_database, "wechat") == [t("welcome", "zh")]
        sender = WeChatSender(make_wechat_client(s.runtime.settings))
        assert drain_once(own_database, {"wechat": sender}, worker_id="w").sent == 1
        (sent,) = wechat_api.sent("message/custom/send")
        assert sent["touser"] == OPENID and sent["text"]["content"] == t("welcome", "zh")


def test_with_the_processors_elsewhere_the_webhook_answers_at_once(
    chat_runtime: Runtime, own_database: sessionmaker[Session], wechat: WeChatPlatform
) -> None:
    for s in service(chat_runtime, own_database, inbox_serve_processors=0):
        reply, took = post(s, wechat, "/wechat", message_xml("event", {"Event": "subscribe"}, from_user=OPENID))
        assert reply == {} and took < 2.0
        assert rows(own_database, InboxMessage, InboxMessage.status == "pending") == 1
        s.processor().process_once()  # `gridbot process` elsewhere: the reply goes through the outbox
        assert queued_texts(own_database, "wechat") == [t("welcome", "zh")]


def test_past_the_backlog_bound_the_message_is_stored_and_the_resident_told(
    chat_runtime: Runtime, own_database: sessionmaker[Session], wechat: WeChatPlatform
) -> None:
    store_inbound(
        own_database, Inbound(channel="wechat", user_id="oOTHER", kind=InboundKind.text, text="早", message_id="1")
    )
    for s in service(chat_runtime, own_database, inbox_backlog_bound=1):
        reply, took = post(s, wechat, "/wechat", message_xml("event", {"Event": "subscribe"}, from_user=OPENID))
        assert reply["Content"] == t("inbox.busy", "zh") and took < 2.0
        assert rows(own_database, InboxMessage, InboxMessage.status == "pending") == 2  # nothing refused or lost
        while s.processor().process_once():
            pass
        assert t("welcome", "zh") in queued_texts(own_database, "wechat")  # the real answer, later


def test_wecom_gets_the_encrypted_passive_reply_from_the_processor(waiting: Service, wecom: WeChatPlatform) -> None:
    xml = message_xml(
        "event", {"Event": "subscribe"}, from_user="zhangsan", to_user=WECOM_CORP_ID, agent_id=WECOM_AGENT_ID
    )
    reply, _ = post(waiting, wecom, "/wecom", xml)
    assert reply["ToUserName"] == "zhangsan"
    assert reply["Content"] == t("welcome", "zh")
    assert rows(waiting.factory, InboxMessage, InboxMessage.channel == "wecom") == 1

"""A database outage loses no message: the turn stores nothing, the webhook answers 503 so the platform
delivers the message again, and the redelivery is answered. A turn's replies are queued in the turn's own
commit: if the outbox write fails, nothing of the turn is kept either."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.channels are parameters here)

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import ConversationState, InboundMessage, Notification
from backend.runtime import Runtime
from bot.catalogue import t
from bot.outbound import REPLY_KIND
from tests.fakes.channels import (  # noqa: F401  (fixtures)
    TELEGRAM_SECRET,
    build_channel_app,
    chat_runtime,
    own_database,
    telegram_api,
    wechat,
    wechat_api,
)
from tests.fakes.telegram import text_update
from tests.fakes.wechat import WeChatPlatform, message_xml

HEADERS = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
REPORT = "星河公寓3号楼楼道的灯坏了一个星期了"


@contextmanager
def database_down(factory: sessionmaker[Session], *, only: str = "") -> Iterator[None]:
    """Every statement (or only those containing `only`) fails as if the server had gone away."""
    engine: Engine = factory.kw["bind"]

    def fail(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if only in statement:
            raise OperationalError(statement, {}, ConnectionError("server closed the connection unexpectedly"))

    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", fail)


def count(factory: sessionmaker[Session], model: type, **where: str) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model).filter_by(**where)) or 0)


def test_telegram_update_during_an_outage_is_refused_with_503_and_answered_on_redelivery(
    chat_runtime: Runtime, own_database: sessionmaker[Session]
) -> None:
    with TestClient(build_channel_app(chat_runtime, own_database)) as client:
        update = text_update(4242, REPORT, uid=321)
        with database_down(own_database, only="inbound_messages"):
            assert client.post("/telegram/webhook", json=update, headers=HEADERS).status_code == 503
        assert count(own_database, InboundMessage, channel="telegram") == 0
        assert count(own_database, Notification) == 0

        assert client.post("/telegram/webhook", json=update, headers=HEADERS).status_code == 200
        assert count(own_database, InboundMessage, channel="telegram", message_key="4242") == 1
        assert count(own_database, Notification, kind=REPLY_KIND, key="telegram:reply:4242") == 1


def test_a_failed_outbox_write_takes_the_whole_turn_back(
    chat_runtime: Runtime, own_database: sessionmaker[Session]
) -> None:
    with TestClient(build_channel_app(chat_runtime, own_database)) as client:
        update = text_update(4343, REPORT, uid=654)
        with database_down(own_database, only="INSERT INTO notifications"):
            assert client.post("/telegram/webhook", json=update, headers=HEADERS).status_code == 503
        assert count(own_database, ConversationState, channel="telegram", external_id="654") == 0
        assert count(own_database, InboundMessage, channel="telegram") == 0

        assert client.post("/telegram/webhook", json=update, headers=HEADERS).status_code == 200
        assert count(own_database, ConversationState, channel="telegram", external_id="654") == 1
        assert count(own_database, Notification, kind=REPLY_KIND, key="telegram:reply:4343") == 1


@pytest.mark.parametrize("failing", ["webhook_nonces", "inbound_messages", "conversation_states", ""])
def test_wechat_message_during_an_outage_gets_503_and_its_retry_the_passive_reply(
    chat_runtime: Runtime, own_database: sessionmaker[Session], wechat: WeChatPlatform, failing: str
) -> None:
    with TestClient(build_channel_app(chat_runtime, own_database), raise_server_exceptions=False) as client:
        xml = message_xml("event", {"Event": "subscribe"}, from_user="oOUTAGE")
        signed = wechat.sign(xml)
        with database_down(own_database, only=failing):
            assert client.post("/wechat", params=signed.params, content=signed.body).status_code == 503
        assert count(own_database, ConversationState, external_id="oOUTAGE") == 0

        retry = client.post("/wechat", params=signed.params, content=signed.body)  # WeChat retries as it was
        assert retry.status_code == 200
        assert wechat.open_reply(retry.text)["Content"] == t("welcome", "zh")

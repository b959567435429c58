"""WeChat with the inbox processors in another process (`gridbot process` beside `gridbot serve`): on PostgreSQL
the webhook still gives the passive reply, through the inbox row and its NOTIFY; a turn later than the wait goes
through the outbox, never both and never neither. On SQLite nothing waits: every reply goes through the outbox."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.channels are parameters here)

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import InboxMessage
from backend.db.session import transaction
from backend.db.types import utcnow
from backend.runtime import Runtime
from backend.texts import t
from backend.usecases import passive_replies
from bot.inbox import InboxProcessor, ProcessorConfig
from tests.fakes.channels import (  # noqa: F401  (fixtures)
    chat_runtime,
    telegram_api,
    wechat,
    wechat_api,
)
from tests.fakes.wechat import WeChatPlatform, message_xml
from tests.inbox.test_inbox_wechat import OPENID, Service, post, queued_texts, rows, service


def _url(factory: sessionmaker[Session]) -> str:
    return str(factory.kw["bind"].url.render_as_string(hide_password=False))


def apart(runtime: Runtime, factory: sessionmaker[Session], wait: float) -> Iterator[Service]:
    """`gridbot serve` with no processor of its own, on the test's database."""
    yield from service(
        runtime, factory, database_url=_url(factory), inbox_serve_processors=0, inbox_reply_wait_seconds=wait
    )


def elsewhere(s: Service) -> InboxProcessor:
    """A processor as `gridbot process` runs it: no webhook of its process waits for it."""
    return InboxProcessor(s.factory, s.chat, worker_id="process-1", config=ProcessorConfig(idle_sleep=0.01))


@pytest.fixture
def processing_apart(chat_runtime: Runtime, real_db: sessionmaker[Session]) -> Iterator[Service]:
    for s in apart(chat_runtime, real_db, wait=4.0):
        stop = threading.Event()
        thread = threading.Thread(target=elsewhere(s).run, args=(stop,), daemon=True)
        thread.start()
        yield s
        stop.set()
        thread.join(10)


def postgres(factory: sessionmaker[Session]) -> bool:
    return bool(factory.kw["bind"].dialect.name == "postgresql")


def test_a_processor_of_another_process_gives_the_passive_reply_on_postgresql(
    processing_apart: Service, wechat: WeChatPlatform
) -> None:
    s = processing_apart
    reply, took = post(s, wechat, "/wechat", message_xml("event", {"Event": "subscribe"}, from_user=OPENID))
    if postgres(s.factory):
        assert reply["Content"] == t("welcome", "zh") and took < 3.0
        assert queued_texts(s.factory, "wechat") == []  # answered passively, nothing pushed
    else:  # SQLite: nothing waits, the answer is pushed
        assert reply == {}
        deadline = time.monotonic() + 10
        while rows(s.factory, InboxMessage, InboxMessage.status == "done") == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert queued_texts(s.factory, "wechat") == [t("welcome", "zh")]


def test_a_turn_later_than_the_wait_goes_through_the_outbox(
    chat_runtime: Runtime, real_db: sessionmaker[Session], wechat: WeChatPlatform
) -> None:
    for s in apart(chat_runtime, real_db, wait=0.5):  # no processor runs yet
        reply, took = post(s, wechat, "/wechat", message_xml("event", {"Event": "subscribe"}, from_user=OPENID))
        assert reply == {}
        if postgres(real_db):
            assert took >= 0.5
        assert elsewhere(s).process_once() == 1
        assert queued_texts(real_db, "wechat") == [t("welcome", "zh")]


def test_a_redelivery_gets_the_passive_answer_its_first_request_could_not_give(
    chat_runtime: Runtime, real_db: sessionmaker[Session], wechat: WeChatPlatform
) -> None:
    if not postgres(real_db):
        return  # on SQLite the answer went to the outbox (previous test)
    xml = message_xml("text", {"Content": "你好"}, from_user=OPENID, msg_id="880001")
    for s in apart(chat_runtime, real_db, wait=3.0):  # the turn runs well within it, even on a busy machine
        # The first request's process died while waiting: its row is stored and awaited, nobody listens.
        started = threading.Thread(target=post, args=(s, wechat, "/wechat", xml))
        started.start()
        while rows(real_db, InboxMessage) == 0:
            pass
        assert elsewhere(s).process_once() == 1
        started.join(10)
        again, _ = post(s, wechat, "/wechat", xml)  # WeChat's retry of the same MsgId
        assert again["Content"]
        assert again["Content"] not in queued_texts(real_db, "wechat")  # given once: passively


class BehindTheBatch:
    """A webhook's UPDATE of a row that the test's batch transaction has taken: on PostgreSQL it runs in
    another thread and must wait for that batch to commit; SQLite has one writer, so it runs after the batch."""

    def __init__(self, factory: sessionmaker[Session], call: Callable[[], object]) -> None:
        self.call, self.result, self.thread = call, list[object](), None
        if postgres(factory):
            self.thread = threading.Thread(target=lambda: self.result.append(call()))
            self.thread.start()
            self.thread.join(0.5)
            assert self.thread.is_alive()

    def outcome(self) -> object:
        """What the UPDATE gave, once the batch has committed."""
        if self.thread is None:
            self.result.append(self.call())
        else:
            self.thread.join(5)
        return self.result[0]


def test_stopping_the_wait_waits_for_a_batch_that_took_the_passive_answer(real_db: sessionmaker[Session]) -> None:
    with transaction(real_db) as session:
        row = InboxMessage(channel="wechat", message_id="m1", sender="o1", payload={}, status="pending", attempts=1)
        row.reply_until = utcnow() + timedelta(seconds=10)
        session.add(row)
    with transaction(real_db) as batch:
        assert passive_replies.take(batch, [row.id]) == {row.id}
        stopping = BehindTheBatch(real_db, lambda: passive_replies.stop_awaiting(real_db, "wechat", "m1"))
        passive_replies.give(batch, {row.id: '{"messages": []}'}, {row.id: ("wechat", "m1")})
    assert stopping.outcome() == '{"messages": []}'
    with transaction(real_db) as later:
        assert passive_replies.take(later, [row.id]) == set()  # taken once only


def test_a_webhook_that_stopped_waiting_is_never_answered_passively(real_db: sessionmaker[Session]) -> None:
    with transaction(real_db) as session:
        row = InboxMessage(channel="wechat", message_id="m2", sender="o1", payload={}, status="pending", attempts=1)
        row.reply_until = utcnow() + timedelta(seconds=10)
        session.add(row)
    assert passive_replies.stop_awaiting(real_db, "wechat", "m2") is None
    with transaction(real_db) as batch:
        assert passive_replies.take(batch, [row.id]) == set()


def test_a_redelivery_adopts_the_wait_of_a_first_request_whose_process_died(
    chat_runtime: Runtime, real_db: sessionmaker[Session], wechat: WeChatPlatform
) -> None:
    if not postgres(real_db):
        return  # on SQLite nothing waits across processes
    xml = message_xml("text", {"Content": "你好"}, from_user=OPENID, msg_id="880002")
    for s in apart(chat_runtime, real_db, wait=1.5):
        post(s, wechat, "/wechat", xml)
        # Had its process died while waiting, the row would still say it is awaited (until a moment ago).
        with transaction(real_db) as session:
            row = session.scalars(select(InboxMessage)).one()
            row.reply_until = utcnow() - timedelta(seconds=1)
        with ThreadPoolExecutor(1) as pool:
            retry = pool.submit(post, s, wechat, "/wechat", xml)
            deadline = time.monotonic() + 5
            while rows(real_db, InboxMessage, InboxMessage.reply_until > utcnow()) == 0:  # the retry waits now
                assert time.monotonic() < deadline
                time.sleep(0.01)
            assert elsewhere(s).process_once() == 1
            reply, _ = retry.result(10)
        assert reply["Content"]
        assert reply["Content"] not in queued_texts(real_db, "wechat")  # given once: passively


def test_adopting_a_wait_waits_for_a_batch_that_took_the_passive_answer(real_db: sessionmaker[Session]) -> None:
    later = utcnow() + timedelta(seconds=10)
    with transaction(real_db) as session:
        taken, awaited, stopped, turned = (
            InboxMessage(channel="wechat", message_id=m, sender="o1", payload={}, status="pending", attempts=1)
            for m in ("m3", "m4", "m5", "m6")
        )
        # Their webhooks have gone: m3's while waiting, m4's and m6's after; m5's stopped waiting (reply_until
        # cleared). m6's turn has run since, its replies queued in the outbox.
        taken.reply_until = later
        awaited.reply_until = turned.reply_until = utcnow() - timedelta(seconds=1)
        turned.status = "done"
        session.add_all([taken, awaited, stopped, turned])
    with transaction(real_db) as batch:
        assert passive_replies.take(batch, [taken.id]) == {taken.id}
        adopting = BehindTheBatch(real_db, lambda: passive_replies.adopt(real_db, "wechat", "m3", later))
        passive_replies.give(batch, {taken.id: '{"messages": []}'}, {taken.id: ("wechat", "m3")})
    assert adopting.outcome() is False
    assert passive_replies.read(real_db, "wechat", "m3") == '{"messages": []}'
    assert passive_replies.adopt(real_db, "wechat", "m4", later) is True
    with transaction(real_db) as batch:
        assert passive_replies.take(batch, [awaited.id]) == {awaited.id}  # the adopted wait makes it awaited again
    assert passive_replies.adopt(real_db, "wechat", "m5", later) is False
    assert passive_replies.adopt(real_db, "wechat", "m6", later) is False

"""The passive-reply signal carries the text, so a waiting webhook answers without reading the row; a text too
long for a signal, or a signal of an earlier version, is read."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import InboxMessage
from backend.db.session import transaction
from backend.db.types import utcnow
from backend.usecases import passive_replies
from backend.usecases.passive_replies import NOTIFY_PAYLOAD_BYTES, REPLY_CHANNEL, ReplySignals, _payloads
from tests.conftest import POSTGRES_URL


def test_each_signal_payload_fits_and_carries_the_texts_that_fit() -> None:
    items = [("wechat", f"m{i}", f"回复{i}" * 40) for i in range(200)] + [("wecom", "long", "长" * 5000)]
    payloads = list(_payloads(items))
    assert len(payloads) > 1
    assert all(len(p.encode()) <= NOTIFY_PAYLOAD_BYTES for p in payloads)
    entries = [entry for p in payloads for entry in json.loads(p)]
    assert [tuple(e) for e in entries[:-1]] == items[:-1]  # in order, none lost, texts whole
    assert entries[-1] == ["wecom", "long", None]  # too long for any signal: the webhook reads it


def _signalled(signals: ReplySignals, payload: str, *keys: tuple[str, str]) -> list[tuple[str, str | None]]:
    heard: list[tuple[str, str | None]] = []

    def hear(message_id: str) -> Callable[[str | None], None]:
        return lambda text: heard.append((message_id, text))

    for key in keys:
        signals.expect(key, hear(key[1]))
    signals._signalled(payload)
    return heard


def test_a_signal_wakes_each_waiting_webhook_with_its_text(real_db: sessionmaker[Session]) -> None:
    signals = ReplySignals(real_db)
    payload = json.dumps([["wechat", "m1", "好的"], ["wechat", "m2", None], ["wechat", "nobody", "x"]])
    assert _signalled(signals, payload, ("wechat", "m1"), ("wechat", "m2")) == [("m1", "好的"), ("m2", None)]


def test_a_signal_of_an_earlier_version_names_the_message_only(real_db: sessionmaker[Session]) -> None:
    signals = ReplySignals(real_db)
    assert _signalled(signals, json.dumps([["wechat", "m1"]]), ("wechat", "m1")) == [("m1", None)]


def test_a_signal_that_does_not_parse_wakes_nobody(real_db: sessionmaker[Session]) -> None:
    signals = ReplySignals(real_db)
    for payload in ("not json", json.dumps([["wechat", "m1", 5]]), json.dumps([["wechat"]])):
        assert _signalled(signals, payload, ("wechat", "m1")) == []


def _listening(factory: sessionmaker[Session]) -> bool:
    with factory() as session:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = :q"
        return bool(session.scalar(text(query), {"q": f"LISTEN {REPLY_CHANNEL}"}))


# Signals are PostgreSQL's NOTIFY; on SQLite the webhook's own processors hand replies over in memory.
@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only (GRIDBOT_TEST_POSTGRES_URL)")
@pytest.mark.parametrize("real_db", ["postgresql"], indirect=True)
@pytest.mark.parametrize("reply", ['{"messages": []}', json.dumps({"text": "长" * 5000}, ensure_ascii=False)])
def test_a_committed_passive_reply_reaches_the_listening_webhook(real_db: sessionmaker[Session], reply: str) -> None:
    with transaction(real_db) as session:
        row = InboxMessage(channel="wechat", message_id="m9", sender="o1", payload={}, status="pending", attempts=1)
        row.reply_until = utcnow() + timedelta(seconds=10)
        session.add(row)
    signals = ReplySignals(real_db)
    heard: queue.Queue[str | None] = queue.Queue()
    signals.expect(("wechat", "m9"), heard.put)
    signals.start()
    try:
        deadline = time.monotonic() + 10
        while not _listening(real_db) and time.monotonic() < deadline:
            time.sleep(0.02)
        with transaction(real_db) as batch:
            assert passive_replies.take(batch, [row.id]) == {row.id}
            passive_replies.give(batch, {row.id: reply}, {row.id: ("wechat", "m9")})
        carried = heard.get(timeout=10)
    finally:
        signals.close()
    if len(reply.encode()) < NOTIFY_PAYLOAD_BYTES:
        assert carried == reply
    else:  # too long for a signal: the webhook is woken and reads it
        assert carried is None
    assert passive_replies.read(real_db, "wechat", "m9") == reply

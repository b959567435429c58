"""The webhooks' inbox writer: messages that arrive while a write runs are stored together in the next one,
each request still hears about its own message (stored, a redelivery, a replayed nonce, the database away)."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.channels are parameters here)

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import InboxMessage
from backend.usecases.channels import NonceReplayed, NonceUse, record_nonces
from bot.inbox import InboxWriter
from bot.messages import Inbound, InboundKind
from tests.fakes.channels import own_database  # noqa: F401  (fixture)


def message(n: int, sender: str | None = None) -> Inbound:
    return Inbound("wechat", sender or f"o{n}", InboundKind.text, text=f"路灯坏了 {n}", message_id=f"m{n}")


def nonce(value: str, body: str) -> NonceUse:
    return NonceUse("wechat", 1_000_000, value, body, datetime.now(UTC))


def stored_ids(factory: sessionmaker[Session]) -> list[str]:
    with factory() as session:
        return sorted(session.scalars(select(InboxMessage.message_id)))


def test_concurrent_requests_share_commits_and_each_hears_its_own_outcome(
    own_database: sessionmaker[Session],
) -> None:
    engine = own_database.kw["bind"]
    commits: list[int] = []

    def count(_conn: Any) -> None:
        commits.append(1)

    writer = InboxWriter(own_database, ThreadPoolExecutor(1))

    async def arrive() -> list[Any]:
        requests = [writer.store(message(n), nonce(f"n{n}", "body")) for n in range(30)]
        requests.append(writer.store(message(3)))  # the platform retrying message 3 at the same moment
        requests.append(writer.store(message(99), nonce("n5", "another body")))  # a replayed nonce
        return await asyncio.gather(*requests, return_exceptions=True)

    event.listen(engine, "commit", count)
    try:
        outcomes = asyncio.run(arrive())
    finally:
        event.remove(engine, "commit", count)
    assert outcomes[:30] == [True] * 30
    assert outcomes[30] is False  # the copy stored nothing
    assert isinstance(outcomes[31], NonceReplayed)  # refused, and only that request
    assert stored_ids(own_database) == sorted(f"m{n}" for n in range(30))
    assert 1 <= len(commits) < 10  # 32 requests, a handful of transactions


def test_when_the_database_is_away_every_waiting_request_hears_it_and_the_next_write_works(
    own_database: sessionmaker[Session],
) -> None:
    writer = InboxWriter(own_database, ThreadPoolExecutor(1))
    engine = own_database.kw["bind"]

    def refuse(*_args: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    async def arrive(first: int) -> list[Any]:
        return await asyncio.gather(
            *(writer.store(message(n)) for n in range(first, first + 5)), return_exceptions=True
        )

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        outcomes = asyncio.run(arrive(0))
    finally:
        event.remove(engine, "before_cursor_execute", refuse)
    assert all(isinstance(o, OperationalError) for o in outcomes)  # the webhook answers 503: delivered again
    assert stored_ids(own_database) == []
    assert asyncio.run(arrive(0)) == [True] * 5  # the redelivery is stored


def test_a_lone_request_is_written_at_once(own_database: sessionmaker[Session]) -> None:
    writer = InboxWriter(own_database, None)
    assert asyncio.run(writer.store(message(1))) is True
    assert asyncio.run(writer.store(message(1))) is False  # a redelivery
    assert stored_ids(own_database) == ["m1"]


def test_nonces_checked_together_keep_the_one_by_one_answers(session: Session) -> None:
    connection = session.connection()
    assert record_nonces(connection, [nonce("a", "body a"), nonce("b", "body b")]) == [True, True]
    later = [
        nonce("a", "body a"),  # the platform retrying the same request: allowed, the message id dedupes it
        nonce("b", "forged"),  # the pair again with another body: a replay
        nonce("c", "body c"),
        nonce("c", "body c"),  # twice in one write, same body
        nonce("d", "body d"),
        nonce("d", "forged"),  # twice in one write, another body
    ]
    assert record_nonces(connection, later) == [True, False, True, True, True, False]

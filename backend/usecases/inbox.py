"""The durable inbox: a webhook stores an inbound message and answers; a processor turns it later.

`store` is one insert; the platform's message id is unique per channel, so a redelivered message is a
no-op. `claim` leases, per sender, only the oldest unfinished message, so one sender's turns run strictly
in order while different senders' turns run in parallel (several processors on PostgreSQL claim with
FOR UPDATE SKIP LOCKED; on SQLite run one). A processor that dies mid-batch leaves leased rows whose lease
expires; the next claim takes them again, and the chatbot's own per-message record (InboundMessage, written
in the turn's commit) makes the second turn return the stored replies instead of running twice.
A message whose turn keeps failing is retried with a growing pause, then parked with its error: never
dropped, listed for the admins (`parked`) and put back with `requeue`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Executable, bindparam, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import INBOX_WAITING_PREDICATE, InboxMessage
from backend.db.session import dialect_insert, transaction
from backend.db.types import utcnow
from backend.usecases.channels import NonceReplayed, NonceUse, record_nonces

MESSAGE_ID_LENGTH = 128


@dataclass(frozen=True)
class InboxItem:
    """A claimed inbox row: what the processor needs to run its turn."""

    id: int
    channel: str
    message_id: str
    sender: str
    payload: dict[str, Any]
    attempts: int
    reply_until: datetime | None = None  # a webhook elsewhere waits for the passive reply until then


@dataclass(frozen=True)
class ParkedMessage:
    """An inbox message the processor gave up on, for the admin list."""

    id: int
    channel: str
    sender: str
    attempts: int
    error: str | None
    received_at: datetime


@dataclass(frozen=True)
class Arrival:
    """A message a webhook stores: its platform id, sender and parsed payload, and, for a webhook whose body is
    not signed, the request's nonce (recorded with it)."""

    channel: str
    message_id: str
    sender: str
    payload: dict[str, Any]
    nonce: NonceUse | None = None
    reply_until: datetime | None = None  # the webhook waits for a processor elsewhere to answer passively


def store(
    session_factory: sessionmaker[Session],
    *,
    channel: str,
    message_id: str,
    sender: str,
    payload: dict[str, Any],
    nonce: NonceUse | None = None,
) -> bool:
    """Insert one inbound message; False when the platform delivered this message id before; NonceReplayed,
    and nothing stored, when `nonce` came before with another body."""
    (stored,) = store_many(session_factory, [Arrival(channel, message_id, sender, payload, nonce)])
    if isinstance(stored, NonceReplayed):
        raise stored
    return stored


def store_many(session_factory: sessionmaker[Session], arrivals: Sequence[Arrival]) -> list[bool | NonceReplayed]:
    """Store several messages in one transaction (a busy webhook process commits once for all that arrived
    meanwhile). Per message: True when stored; False when its id was stored before (a redelivery, or an
    earlier copy in the same call); NonceReplayed, nothing stored for it, when its request's nonce came
    before with another body. Core statements, built once per dialect: this is the whole database work of an
    acknowledgement."""
    results: list[bool | NonceReplayed] = [False] * len(arrivals)
    with transaction(session_factory) as session:
        connection = session.connection()
        signed = [(n, arrival.nonce) for n, arrival in enumerate(arrivals) if arrival.nonce is not None]
        first_uses = record_nonces(connection, [nonce for _, nonce in signed])
        for (n, nonce), first_use in zip(signed, first_uses, strict=True):
            if not first_use:
                results[n] = NonceReplayed(nonce.nonce)
        fresh = [n for n in range(len(arrivals)) if not isinstance(results[n], NonceReplayed)]
        if not fresh:
            return results
        now = utcnow()
        keys = [(arrivals[n].channel, arrivals[n].message_id[:MESSAGE_ID_LENGTH]) for n in fresh]
        rows = [
            {
                "channel": channel,
                "message_id": message_id,
                "sender": arrivals[n].sender[:MESSAGE_ID_LENGTH],
                "payload": arrivals[n].payload,
                "received_at": now,
                "reply_until": arrivals[n].reply_until,
            }
            for n, (channel, message_id) in zip(fresh, keys, strict=True)
        ]
        inserted = {
            (r.channel, r.message_id) for r in connection.execute(_store_statement(connection.dialect.name), rows)
        }
    for n, key in zip(fresh, keys, strict=True):
        results[n] = key in inserted
        inserted.discard(key)  # a second copy in the same call stored nothing
    return results


@lru_cache(maxsize=2)
def _store_statement(dialect: str) -> Executable:
    table = InboxMessage.__table__
    statement: Executable = (
        dialect_insert(dialect)(table)
        .values(
            {
                **{
                    c: bindparam(c)
                    for c in ("channel", "message_id", "sender", "payload", "received_at", "reply_until")
                },
                "status": "pending",
                "attempts": 0,
            }
        )
        .on_conflict_do_nothing(index_elements=[table.c.channel, table.c.message_id])
        .returning(table.c.channel, table.c.message_id)
    )
    return statement


def backlog(session_factory: sessionmaker[Session], *, up_to: int | None = None) -> int:
    """How many stored messages wait for their turn (pending, leased or not); with `up_to`, counted no further
    than that, so the cost stays bounded however long the queue has grown."""
    waiting = select(InboxMessage.id).where(WAITING)
    if up_to is not None:
        waiting = waiting.limit(up_to)
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(waiting.subquery())) or 0)


def status_of(session_factory: sessionmaker[Session], channel: str, message_id: str) -> str | None:
    """pending | done | parked, or None for a message id never stored."""
    with session_factory() as session:
        return session.scalar(
            select(InboxMessage.status).where(
                InboxMessage.channel == channel, InboxMessage.message_id == message_id[:MESSAGE_ID_LENGTH]
            )
        )


# Waiting messages, written as the literal of the partial index ix_inbox_messages_waiting: a bound value would
# keep a prepared statement's generic plan from using it.
WAITING = text(INBOX_WAITING_PREDICATE)

# A page of the waiting queue in arrival order: a range scan of the waiting rows' own index, whatever the
# planner believes of the table. (A single query that also asked "has this sender an older pending message?"
# let PostgreSQL, told by its statistics that pending rows are rare, compare every candidate with every pending
# row: a claim took minutes once a burst had queued 20,000 reports. With the waiting rows among the finished
# ones in one index, stale statistics had it walk every finished row or sort every waiting one; both costs grew
# with the queue a burst leaves. tests/inbox/test_inbox_claim_plan.py.)
PENDING_PAGE = (
    select(InboxMessage.id, InboxMessage.channel, InboxMessage.sender, InboxMessage.lease_until)
    .where(WAITING, InboxMessage.id > bindparam("after"))
    .order_by(InboxMessage.id)
    .limit(bindparam("page"))
)


def claim(
    session_factory: sessionmaker[Session], *, worker_id: str, batch_size: int, lease_seconds: float
) -> list[InboxItem]:
    """Lease up to batch_size messages, at most one per sender: each sender's oldest unfinished one, if free.

    Reads the queue page by page; a sender's first row met is its oldest, so later rows of a sender already
    met wait. Heads another processor holds are skipped (FOR UPDATE SKIP LOCKED), and with them their senders.
    """
    now = utcnow()
    page_size = 2 * batch_size  # most waiting rows are heads: one page is usually enough
    leased: list[InboxItem] = []
    met: set[tuple[str, str]] = set()
    after = 0
    with transaction(session_factory) as session:
        while len(leased) < batch_size:
            page = session.execute(PENDING_PAGE, {"after": after, "page": page_size}).all()
            heads = []
            for row_id, channel, sender, lease_until in page:
                if (channel, sender) not in met:
                    met.add((channel, sender))
                    if _free(lease_until, now):
                        heads.append(row_id)
            if heads:
                leased += _lease(session, heads, batch_size - len(leased), worker_id, now, lease_seconds)
            if len(page) < page_size:
                break
            after = page[-1][0]
    leased.sort(key=lambda item: item.id)
    return leased


def _free(lease_until: datetime | None, now: datetime) -> bool:
    """Whether no processor holds a row: never leased, or its lease has run out."""
    return lease_until is None or lease_until < now


def _lease(
    session: Session, heads: list[int], limit: int, worker_id: str, now: datetime, lease_seconds: float
) -> list[InboxItem]:
    """Lease up to limit of these rows that are still pending and free, skipping rows other processors lock.

    Both statements find their rows by primary key, so neither depends on what the planner believes of the
    queue. Whether a row is still pending and free is read from it once locked: another processor may have
    finished or leased it since the page was read."""
    locked = session.execute(
        select(InboxMessage.id, InboxMessage.status, InboxMessage.lease_until)
        .where(InboxMessage.id.in_(heads))
        .order_by(InboxMessage.id)
        .with_for_update(skip_locked=True)
    ).all()
    free = [row_id for row_id, status, lease_until in locked if status == "pending" and _free(lease_until, now)]
    if not free:
        return []
    rows = session.execute(
        update(InboxMessage)
        .where(InboxMessage.id.in_(free[:limit]))
        .values(
            lease_owner=worker_id,
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=InboxMessage.attempts + 1,
        )
        .returning(
            InboxMessage.id,
            InboxMessage.channel,
            InboxMessage.message_id,
            InboxMessage.sender,
            InboxMessage.payload,
            InboxMessage.attempts,
            InboxMessage.reply_until,
        )
        .execution_options(synchronize_session=False)
    ).all()
    return [InboxItem(*row) for row in rows]


def finish(session: Session, ids: Sequence[int]) -> None:
    """Mark messages done inside the transaction of their turns (the caller commits)."""
    if ids:
        session.execute(
            update(InboxMessage)
            .where(InboxMessage.id.in_(list(ids)))
            .values(status="done", done_at=utcnow(), lease_owner=None, lease_until=None, last_error=None)
            .execution_options(synchronize_session=False)
        )


def fail(
    session_factory: sessionmaker[Session], item: InboxItem, error: str, *, max_attempts: int, retry_seconds: float
) -> bool:
    """Record a failed turn: retry it after a pause (the sender's later messages wait), or park it after
    max_attempts. True when parked."""
    parked = item.attempts >= max_attempts
    values: dict[str, Any] = {"last_error": error[:2000], "lease_owner": None}
    if parked:
        values.update(status="parked", lease_until=None, done_at=utcnow())
    else:
        pause = retry_seconds * 2 ** (item.attempts - 1)
        values.update(lease_until=utcnow() + timedelta(seconds=pause))
    with transaction(session_factory) as session:
        session.execute(update(InboxMessage).where(InboxMessage.id == item.id).values(**values))
    return parked


def parked(session: Session, *, limit: int = 100, offset: int = 0) -> list[ParkedMessage]:
    """The parked messages, newest first."""
    rows = session.execute(
        select(
            InboxMessage.id,
            InboxMessage.channel,
            InboxMessage.sender,
            InboxMessage.attempts,
            InboxMessage.last_error,
            InboxMessage.received_at,
        )
        .where(InboxMessage.status == "parked")
        .order_by(InboxMessage.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [ParkedMessage(*row) for row in rows]


def requeue(session: Session, ids: Sequence[int]) -> int:
    """Put parked messages back for the processor (an admin action; the caller commits); returns how many."""
    if not ids:
        return 0
    result = session.execute(
        update(InboxMessage)
        .where(InboxMessage.id.in_(list(ids)), InboxMessage.status == "parked")
        .values(status="pending", attempts=0, lease_until=None, done_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]

"""What the chat adapters ask of the database: has a delivery been seen, was a webhook nonce used, and the
console's own identities and inbox. Each call is one short transaction of its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Executable, Select, bindparam, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import ChannelIdentity, InboundMessage, Notification, WebhookNonce
from backend.db.session import dialect_insert, transaction
from backend.db.types import utcnow
from backend.services.people import identity_of, staff_by_code
from backend.workers.channels import Delivery
from backend.workers.outbox import delivery_of

# InboundMessage.message_key's length: longer platform ids are cut to it, by the engine and here alike.
MESSAGE_KEY_LENGTH = 128


def delivery_seen(session_factory: sessionmaker[Session], channel: str, message_key: str) -> bool:
    """Whether a platform message id was answered before (the engine records it in the turn's commit)."""
    with session_factory() as session:
        found = session.scalar(
            select(InboundMessage.id).where(
                InboundMessage.channel == channel, InboundMessage.message_key == message_key[:MESSAGE_KEY_LENGTH]
            )
        )
    return found is not None


class NonceReplayed(Exception):
    """A signed request's (timestamp, nonce) came before with another body: a replay, refused."""


@dataclass(frozen=True)
class NonceUse:
    """A signed webhook request's (timestamp, nonce), with a digest of its body."""

    channel: str
    timestamp: int
    nonce: str
    body_sha256: str
    at: datetime


def nonce_first_use(session_factory: sessionmaker[Session], use: NonceUse) -> bool:
    """Record a webhook's (timestamp, nonce) with its body digest; False if the pair came before with another body."""
    with transaction(session_factory) as session:
        return record_nonces(session.connection(), [use])[0]


def record_nonces(connection: Connection, uses: Sequence[NonceUse]) -> list[bool]:
    """nonce_first_use for several requests inside the caller's transaction (the inbox stores their messages
    in the same one): one INSERT for all, then one SELECT of the stored digests of the pairs seen before.

    Core statements built once per dialect: this runs on every acknowledgement, where the ORM's
    per-statement work was a measurable share of the CPU."""
    if not uses:
        return []
    insert, stored = _nonce_statements(connection.dialect.name)
    rows = [
        {
            "channel": u.channel,
            "timestamp": u.timestamp,
            "nonce": u.nonce,
            "body_sha256": u.body_sha256,
            "seen_at": u.at,
        }
        for u in uses
    ]
    # A pair twice in one call is inserted once: the second copy compares its body with the first's.
    first = {(r.channel, r.timestamp, r.nonce) for r in connection.execute(insert, rows)}
    seen = {(u.channel, u.timestamp, u.nonce) for u in uses} - first
    digests: dict[tuple[str, int, str], str] = {}
    if seen:
        table = WebhookNonce.__table__
        pair = tuple_(table.c.channel, table.c.timestamp, table.c.nonce)
        digests = {(c, t, n): d for c, t, n, d in connection.execute(stored.where(pair.in_(seen)))}
    fresh = []
    for use in uses:
        key = (use.channel, use.timestamp, use.nonce)
        fresh.append(key in first or digests.get(key) == use.body_sha256)
        first.discard(key)  # a later copy of the pair in this call is checked against the stored digest
        digests.setdefault(key, use.body_sha256)
    return fresh


@lru_cache(maxsize=2)
def _nonce_statements(dialect: str) -> tuple[Executable, Select[Any]]:
    table = WebhookNonce.__table__
    insert = (
        dialect_insert(dialect)(table)
        .values({c: bindparam(c) for c in ("channel", "timestamp", "nonce", "body_sha256", "seen_at")})
        .on_conflict_do_nothing()
        .returning(table.c.channel, table.c.timestamp, table.c.nonce)
    )
    stored = select(table.c.channel, table.c.timestamp, table.c.nonce, table.c.body_sha256)
    return insert, stored


def bind_to_staff(session_factory: sessionmaker[Session], *, channel: str, external_id: str, staff_code: str) -> None:
    """Make a chat identity speak as a staff member (the local console and simulator only)."""
    with session_factory() as session:
        staff = staff_by_code(session, staff_code)
        ident = identity_of(session, channel=channel, external_id=external_id)
        if ident is None:
            session.add(ChannelIdentity(person_id=staff.person_id, channel=channel, external_id=external_id))
        elif ident.person_id != staff.person_id:
            ident.person_id = staff.person_id
        session.commit()


def take_pending(session_factory: sessionmaker[Session], *, channel: str, external_id: str) -> list[Delivery]:
    """Every pending notification of the person behind a chat identity, oldest first, marked as sent.

    For the console, which shows them instead of sending them.
    """
    with session_factory() as session:
        ident = identity_of(session, channel=channel, external_id=external_id)
        if ident is None:
            return []
        rows = session.scalars(
            select(Notification)
            .where(Notification.person_id == ident.person_id, Notification.status == "pending")
            .order_by(Notification.id)
        ).all()
        if rows:
            session.execute(
                update(Notification)
                .where(Notification.id.in_([row.id for row in rows]))
                .values(status="sent", sent_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        deliveries = [delivery_of(row) for row in rows]
        session.commit()
    return deliveries

"""What the chat adapters ask of the database: has a delivery been seen, was a webhook nonce used, and the
console's own identities and inbox. Each call is one short transaction of its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Connection, Executable, bindparam, select, update
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
        return record_nonce(session.connection(), use)


def record_nonce(connection: Connection, use: NonceUse) -> bool:
    """nonce_first_use inside the caller's transaction (the inbox stores the message in the same one).

    Core statements built once per dialect: this runs on every acknowledgement, where the ORM's
    per-statement work was a measurable share of the CPU."""
    key = {"channel": use.channel, "timestamp": use.timestamp, "nonce": use.nonce}
    insert, stored = _nonce_statements(connection.dialect.name)
    if connection.execute(insert, {**key, "body_sha256": use.body_sha256, "seen_at": use.at}).first() is not None:
        return True
    return connection.execute(stored, key).scalar() == use.body_sha256


@lru_cache(maxsize=2)
def _nonce_statements(dialect: str) -> tuple[Executable, Executable]:
    table = WebhookNonce.__table__
    insert = (
        dialect_insert(dialect)(table)
        .values({c: bindparam(c) for c in ("channel", "timestamp", "nonce", "body_sha256", "seen_at")})
        .on_conflict_do_nothing()
        .returning(table.c.nonce)
    )
    stored = select(table.c.body_sha256).where(
        table.c.channel == bindparam("channel"),
        table.c.timestamp == bindparam("timestamp"),
        table.c.nonce == bindparam("nonce"),
    )
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

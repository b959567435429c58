"""Passive replies across processes: a webhook waits for a turn that a processor of another process runs.

WeChat and WeCom take the answer to a message as the body of the webhook's response, if it comes within 5 s.
When the processors run apart from the webhooks (`gridbot process` beside `gridbot serve`), the inbox row is
where the two agree, so that every reply goes out exactly once — passively or through the outbox:

- the webhook stores the message with `reply_until` (how long it will wait);
- the processor, inside its batch transaction and before the turns, `take`s the passive answer of the rows
  still awaited (`passive_reply` "" — a row lock held until the batch commits), routes those turns' texts
  to the row instead of the outbox, writes them with `give`, and NOTIFYs REPLY_CHANNEL (sent on commit) with
  the texts that fit in a signal;
- the webhook, woken by that signal, answers with the text it carries, or reads it (`read`); or, at the end
  of its wait, `stop_awaiting` clears `reply_until` unless a processor took the answer first. That UPDATE
  waits for a batch holding the row, so it never overtakes a turn that is committing a passive reply;
- the platform's redelivery of a message whose webhook never answered (its process died) `adopt`s the wait
  while it is still on the row, and otherwise reads what the turn left.

A turn that took the passive answer but failed leaves "" (the webhook answers nothing) and its retry sends
everything through the outbox. PostgreSQL only: on SQLite the processor runs inside `gridbot serve`, which
hands replies over in memory (bot/webhook/inbox_wait.py).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import cast

import psycopg
from sqlalchemy import ColumnElement, Table, and_, bindparam, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import InboxMessage
from backend.db.session import transaction
from backend.db.types import utcnow
from backend.usecases.inbox import MESSAGE_ID_LENGTH
from backend.workers.wakeup import RECONNECT_SECONDS, listen_connection, pg_conninfo

logger = logging.getLogger(__name__)

REPLY_CHANNEL = "gridbot_inbox_reply"
INBOX = cast(Table, InboxMessage.__table__)  # Core: an executemany by id, not the ORM's bulk update
NOTIFY_PAYLOAD_BYTES = 7000  # PostgreSQL refuses a payload of 8,000 bytes or more

Key = tuple[str, str]  # (channel, platform message id)
Signalled = Callable[[str | None], None]  # called with the passive text, or None when it must be read


def take(session: Session, ids: Sequence[int]) -> set[int]:
    """Of these rows, those whose webhook still waits: their passive answer is now this transaction's."""
    if not ids:
        return set()
    now = utcnow()
    taken = session.execute(
        update(InboxMessage)
        .where(
            InboxMessage.id.in_(list(ids)),
            InboxMessage.reply_until > now,
            InboxMessage.passive_reply.is_(None),
        )
        .values(passive_reply="")
        .returning(InboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    return set(taken.scalars())


def give(session: Session, texts: Mapping[int, str], keys: Mapping[int, Key]) -> None:
    """Store the passive texts of turns that took the answer, and signal their webhooks (on commit)."""
    if not texts:
        return
    session.execute(
        update(INBOX).where(INBOX.c.id == bindparam("row_id")).values(passive_reply=bindparam("text")),
        [{"row_id": row_id, "text": text} for row_id, text in texts.items()],
    )
    if session.get_bind().dialect.name == "postgresql":
        for payload in _payloads((*keys[row_id], text) for row_id, text in texts.items()):
            session.execute(select(func.pg_notify(REPLY_CHANNEL, payload)))


def _payloads(items: Iterable[tuple[str, str, str]]) -> Iterable[str]:
    """JSON lists of [channel, message id, text], each small enough for one NOTIFY; a text too long to fit
    alone is left out (null), and its webhook reads it from the row."""
    batch: list[list[str | None]] = []
    size = 2
    for channel, message_id, text in items:
        entry: list[str | None] = [channel, message_id, text]
        encoded = len(json.dumps(entry, ensure_ascii=False).encode()) + 1
        if encoded + 2 > NOTIFY_PAYLOAD_BYTES:
            entry[2] = None
            encoded = len(json.dumps(entry, ensure_ascii=False).encode()) + 1
        if batch and size + encoded > NOTIFY_PAYLOAD_BYTES:
            yield json.dumps(batch, ensure_ascii=False)
            batch, size = [], 2
        batch.append(entry)
        size += encoded
    if batch:
        yield json.dumps(batch, ensure_ascii=False)


def _row(channel: str, message_id: str) -> ColumnElement[bool]:
    return and_(InboxMessage.channel == channel, InboxMessage.message_id == message_id[:MESSAGE_ID_LENGTH])


def read(session_factory: sessionmaker[Session], channel: str, message_id: str) -> str | None:
    """The committed passive text of a message ("" for none), or None while no turn has given one."""
    with session_factory() as session:
        return session.scalar(select(InboxMessage.passive_reply).where(_row(channel, message_id)))


def adopt(session_factory: sessionmaker[Session], channel: str, message_id: str, until: datetime) -> bool:
    """A redelivery takes over the wait of a webhook that may have gone (its process died): True when it now
    waits until `until`, no turn having taken the answer; False when a turn took it (its batch has committed:
    this waits for it, so `read` then gives the text) or nobody waits any more (the replies use the outbox)."""
    with transaction(session_factory) as session:
        adopted = session.execute(
            update(InboxMessage)
            .where(
                _row(channel, message_id),
                InboxMessage.status == "pending",  # a turn done without taking the answer used the outbox
                InboxMessage.passive_reply.is_(None),
                InboxMessage.reply_until.is_not(None),
            )
            .values(reply_until=until)
            .execution_options(synchronize_session=False)
        )
        return bool(adopted.rowcount)  # type: ignore[attr-defined]


def stop_awaiting(session_factory: sessionmaker[Session], channel: str, message_id: str) -> str | None:
    """The webhook stops waiting: None when no processor took the answer (the turn will use the outbox),
    else the passive text, once its batch has committed (this waits for it)."""
    with transaction(session_factory) as session:
        stopped = session.execute(
            update(InboxMessage)
            .where(_row(channel, message_id), InboxMessage.passive_reply.is_(None))
            .values(reply_until=None)
            .execution_options(synchronize_session=False)
        )
        if stopped.rowcount:  # type: ignore[attr-defined]
            return None
        return session.scalar(select(InboxMessage.passive_reply).where(_row(channel, message_id)))


class ReplySignals:
    """One LISTEN connection of a webhook process: calls the callback registered for each signalled key.

    A signal lost while the connection is down costs only the wait: the webhook then stops awaiting and reads.
    """

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._conninfo = pg_conninfo(session_factory.kw["bind"])
        self._lock = threading.Lock()
        self._callbacks: dict[Key, list[Signalled]] = {}  # a redelivery may wait beside its first request
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def expect(self, key: Key, callback: Signalled) -> None:
        """Call callback (from the listening thread) when key is signalled; register before storing."""
        with self._lock:
            self._callbacks.setdefault((key[0], key[1][:MESSAGE_ID_LENGTH]), []).append(callback)

    def forget(self, key: Key, callback: Signalled) -> None:
        """No longer call callback for key."""
        key = (key[0], key[1][:MESSAGE_ID_LENGTH])
        with self._lock:
            waiting = self._callbacks.get(key, [])
            if callback in waiting:
                waiting.remove(callback)
            if not waiting:
                self._callbacks.pop(key, None)

    def start(self) -> None:
        """Listen in a daemon thread until close()."""
        if self._conninfo is not None and self._thread is None:
            self._thread = threading.Thread(target=self._listen, name="inbox-reply-signals", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop listening."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _listen(self) -> None:
        assert self._conninfo is not None
        while not self._stop.is_set():
            try:
                with listen_connection(self._conninfo, REPLY_CHANNEL) as connection:
                    while not self._stop.is_set():
                        for notify in connection.notifies(timeout=1.0):
                            self._signalled(notify.payload)
            except psycopg.Error as exc:
                logger.warning("passive-reply signals lost (%s); webhooks fall back to their wait", type(exc).__name__)
                self._stop.wait(RECONNECT_SECONDS)

    def _signalled(self, payload: str) -> None:
        try:
            # [channel, message id] from a processor of an earlier version: no text, the webhook reads it.
            entries = [(str(e[0]), str(e[1]), e[2] if len(e) > 2 else None) for e in json.loads(payload)]
            if any(text is not None and not isinstance(text, str) for _, _, text in entries):
                raise TypeError("text")
        except (ValueError, TypeError, IndexError, KeyError):
            logger.warning("passive-reply signal with a payload that does not parse")
            return
        with self._lock:
            calls = [(callback, text) for c, m, text in entries for callback in self._callbacks.pop((c, m), [])]
        for callback, text in calls:
            callback(text)

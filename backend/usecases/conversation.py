"""One chat message, one transaction: the sender, their dialogue state, the delivery record, the replies.

The bot hands `ConversationStore.run` a message and a function that answers it. Everything the answer
does through `Casework` (tickets, photos, ratings …), the dialogue state, the dedupe record of the delivery
and the replies queued for the outbox commit together, so a failed turn stores nothing and a resident
never misses the ticket number of a stored report. The inbox processor runs a batch of senders' turns in
one transaction instead (`run_batch`); a turn that fails there is rolled back alone.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from backend.db.models import ChannelIdentity, ConversationState, InboundMessage, Notification, Person
from backend.db.pairs import pairs_in
from backend.db.session import upsert_insert
from backend.domain.notifications import NoticeKind, reply_priority
from backend.services.people import Newcomer, identity_of, new_resident, new_residents
from backend.usecases import Backend
from backend.usecases.casework import Casework
from backend.usecases.views import Speaker

logger = logging.getLogger(__name__)

# Keys of the dialogue state that survive an idle expiry (preferences, not a half-finished dialogue).
STICKY_KEYS = ("last_ticket", "throttle")


class BackendUnavailable(Exception):
    """The database could not be reached: nothing of the turn was stored; the message should come again."""


@dataclass(frozen=True)
class ChatMessage:
    """What the backend needs to know of an inbound chat message to open its turn."""

    channel: str
    user_id: str
    display_name: str = ""
    language: str = "zh"
    language_given: bool = False
    delivery_key: str | None = None  # the platform's message id: a second delivery gets the stored reply
    unfollow: bool = False


@dataclass
class TurnContext:
    """What the answering function works with."""

    speaker: Speaker
    state: dict[str, Any]
    expired: bool
    casework: Casework
    now: datetime


@dataclass(frozen=True)
class TurnAnswer:
    """What the answering function returns: the replies (JSON), those to queue in the outbox, the new state."""

    replies: dict[str, Any]
    queued: dict[str, Any] | None
    state: dict[str, Any]


@dataclass(frozen=True)
class TurnOutcome:
    """The stored replies of a turn (JSON); `duplicate` when this delivery was answered before."""

    replies: dict[str, Any] | None
    duplicate: bool = False
    failed: bool = False


Answer = Callable[[TurnContext], TurnAnswer]
Sender = tuple[str, str]  # (channel, external id)
T = TypeVar("T")


@dataclass
class Prefetched:
    """A batch's senders (residents created for the new ones, the others' arrival stamped in one statement) and
    their locked dialogues, read in two queries before its turns; a turn that fails later keeps its sender's new
    resident record and arrival (the platform did deliver the message).

    An entry serves the first turn of its sender only: a later turn of the same sender, or a turn tried again,
    reads afresh (the turn before may have created or changed the rows)."""

    identities: dict[Sender, ChannelIdentity | None] = field(default_factory=dict)
    states: dict[Sender, ConversationState | None] = field(default_factory=dict)
    created: set[Sender] = field(default_factory=set)  # residents created just now, their arrival stamped
    stamped: set[Sender] = field(default_factory=set)  # known senders whose arrival was stamped just now
    deliveries: dict[tuple[str, str], int | None] = field(default_factory=dict)  # (channel, key): row id or None

    @classmethod
    def read(
        cls, session: Session, messages: Sequence[ChatMessage], *, now: datetime, record_deliveries: bool = False
    ) -> Prefetched:
        """The identities and dialogue rows (locked) of the senders of these messages, their arrival stamped
        `now`; with `record_deliveries`, also every message's delivery record, inserted in one statement (only
        where the whole batch rolls back together: a failed turn's record must not outlive it)."""
        senders = sorted({(m.channel, m.user_id) for m in messages if not m.unfollow})
        known = cls() if not senders else cls._senders(session, messages, senders, now)
        if record_deliveries:
            known.deliveries = _record_deliveries(session, messages, now)
        return known

    @classmethod
    def _senders(
        cls, session: Session, messages: Sequence[ChatMessage], senders: list[Sender], now: datetime
    ) -> Prefetched:
        identities = session.scalars(
            select(ChannelIdentity)
            .where(pairs_in(ChannelIdentity.channel, ChannelIdentity.external_id, senders))
            # The person's identities: a report's notices pick the channel to reach its reporter on.
            .options(
                joinedload(ChannelIdentity.person).options(joinedload(Person.staff), selectinload(Person.identities))
            )
        ).unique()
        states = session.scalars(
            select(ConversationState)
            .where(pairs_in(ConversationState.channel, ConversationState.external_id, senders))
            .order_by(ConversationState.channel, ConversationState.external_id)  # one lock order for all
            .with_for_update()
        )
        known = cls(identities=dict.fromkeys(senders), states=dict.fromkeys(senders))
        known.identities.update(((i.channel, i.external_id), i) for i in identities)
        known.states.update(((s.channel, s.external_id), s) for s in states)
        returning = {key: identity for key, identity in known.identities.items() if identity is not None}
        _stamp_arrivals(session, list(returning.values()), now)
        known.stamped = set(returning)
        first = {(m.channel, m.user_id): m for m in reversed(messages) if not m.unfollow}
        newcomers = [
            Newcomer(m.channel, m.user_id, m.display_name, m.language)
            for key, m in first.items()
            if known.identities[key] is None
        ]
        for identity in new_residents(session, newcomers):
            known.identities[identity.channel, identity.external_id] = identity
            known.created.add((identity.channel, identity.external_id))
        return known

    @staticmethod
    def first_use(table: dict[tuple[str, str], T], key: tuple[str, str], read: Callable[[], T]) -> T:
        """The prefetched value on its first use, read() after that."""
        return table.pop(key) if key in table else read()


@dataclass
class Tail:
    """What every turn ends with — its dialogue state, its reply queued for the outbox, its delivery's stored
    reply — kept until written for all the turns of a batch at once (three statements, not three a turn)."""

    states: list[dict[str, Any]] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    _kept_senders: set[Sender] = field(default_factory=set, repr=False)
    _indexed: int = 0

    def keeps_state_of(self, message: ChatMessage) -> bool:
        """Whether a kept, unwritten dialogue state belongs to this message's sender."""
        # The senders of the kept rows, indexed as rows are added (a scan per turn was quadratic in a batch).
        self._kept_senders.update((row["channel"], row["external_id"]) for row in self.states[self._indexed :])
        self._indexed = len(self.states)
        return (message.channel, message.user_id) in self._kept_senders

    def extend(self, other: Tail) -> None:
        """Take over another turn's rows."""
        self.states += other.states
        self.replies += other.replies
        self.deliveries += other.deliveries

    def write(self, session: Session) -> None:
        """Write the rows kept so far, and forget them."""
        if self.states:
            # Parameters apart from the statement (executemany), so its compiled form is cached.
            upsert = upsert_insert(session)(ConversationState)
            session.execute(
                upsert.on_conflict_do_update(
                    index_elements=["channel", "external_id"],
                    set_={"state": upsert.excluded.state, "updated_at": upsert.excluded.updated_at},
                ),
                self.states,
            )
        if self.replies:
            session.execute(insert(Notification), self.replies)
        for shape in {tuple(sorted(row)) for row in self.deliveries}:  # one UPDATE per set of columns
            rows = [row for row in self.deliveries if tuple(sorted(row)) == shape]
            session.execute(update(InboundMessage), rows)
        self.states, self.replies, self.deliveries = [], [], []
        self._kept_senders, self._indexed = set(), 0


class ConversationStore:
    """Runs chat turns, each in one transaction of its own, or a batch of turns in one transaction."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        bind = backend.session_factory.kw.get("bind")
        # SQLite allows one writer and a turn reads before it writes: turns on one file take turns
        # within a process (PostgreSQL needs no such thing).
        self._serial = (
            _sqlite_lock(str(bind.engine.url)) if bind is not None and bind.dialect.name == "sqlite" else None
        )

    def run(self, message: ChatMessage, answer: Answer) -> TurnOutcome:
        """Answer one message at most once per delivery key; raises BackendUnavailable when the database is down.

        A delivery arriving while the first copy is being answered waits for it (PostgreSQL's unique index,
        SQLite's write lock) and gets the same stored reply.
        """

        def in_a_transaction() -> TurnOutcome:
            with self._serial or nullcontext(), self.backend.session_factory() as session:
                return self._attempt(session, message, answer)  # closing the session rolls a failure back

        with _unavailable("conversation turn on " + message.channel):
            return _tried_twice(in_a_transaction, message.channel)

    def run_batch(
        self,
        turns: Sequence[tuple[ChatMessage, Answer]],
        *,
        before_commit: Callable[[Session, list[TurnOutcome]], None],
        before_turns: Callable[[Session], None] | None = None,
    ) -> list[TurnOutcome]:
        """Several senders' turns in one transaction; then `before_commit` with their outcomes (the inbox marks
        the stored ones done) and one commit. `before_turns` opens the transaction (and opens it again when
        the turns run a second time).

        The turns first run straight in the transaction. If one fails, the whole batch is rolled back and run
        again with each turn in a savepoint: the failing turn is rolled back alone and comes back failed.
        (Two savepoint statements per turn were a fifth of a batch's round trips, and turns rarely fail.)
        Raises BackendUnavailable when the database is down: nothing of the batch is stored.
        """
        with (
            _unavailable("conversation batch"),
            self._serial or nullcontext(),
            self.backend.session_factory() as session,
        ):
            try:
                outcomes = self._batch(session, turns, straight=True, before_turns=before_turns)
            except (OperationalError, InterfaceError):
                raise
            except Exception as exc:
                logger.info("a turn of a batch of %d failed (%s); running each turn in a savepoint", len(turns), exc)
                session.rollback()
                outcomes = self._batch(session, turns, straight=False, before_turns=before_turns)
            before_commit(session, outcomes)
            session.commit()
        return outcomes

    def _batch(
        self,
        session: Session,
        turns: Sequence[tuple[ChatMessage, Answer]],
        *,
        straight: bool,
        before_turns: Callable[[Session], None] | None,
    ) -> list[TurnOutcome]:
        """The turns in the session's transaction: straight, or each in a savepoint (its delivery recorded in it)."""
        self._write_lock(session)
        if before_turns is not None:
            before_turns(session)
        now = self.backend.runtime.clock.now()
        messages = [message for message, _ in turns]
        known, tail = Prefetched.read(session, messages, now=now, record_deliveries=straight), Tail()
        outcomes = []
        for message, answer in turns:
            if tail.keeps_state_of(message):
                tail.write(session)  # the sender's earlier turn in this batch: its state first, so this turn reads it
            if straight:
                outcomes.append(self._turn(session, message, answer, known, tail))
            else:
                outcomes.append(self._in_savepoint(session, message, answer, known, tail))
        tail.write(session)
        return outcomes

    def _in_savepoint(
        self, session: Session, message: ChatMessage, answer: Answer, known: Prefetched, tail: Tail
    ) -> TurnOutcome:
        def in_a_savepoint() -> TurnOutcome:
            own = Tail()
            with session.begin_nested():  # rolled back alone if the turn fails
                outcome = self._turn(session, message, answer, known, own)
            tail.extend(own)  # only a turn that got through keeps its rows
            return outcome

        return _tried_twice(in_a_savepoint, message.channel)

    def _write_lock(self, session: Session) -> None:
        if self._serial is not None:
            # Take SQLite's write lock before the turn's first read: a deferred transaction that
            # reads, then writes, fails at once ("database is locked") if another writer got in.
            session.execute(_SQLITE_WRITE_LOCK)

    def _attempt(self, session: Session, message: ChatMessage, answer: Answer) -> TurnOutcome:
        self._write_lock(session)
        tail = Tail()
        outcome = self._turn(session, message, answer, Prefetched(), tail)
        tail.write(session)
        session.commit()
        return outcome

    def _turn(
        self, session: Session, message: ChatMessage, answer: Answer, known: Prefetched, tail: Tail
    ) -> TurnOutcome:
        """One turn's reads and writes, flushed but not committed; its last rows kept in `tail`."""
        delivery = None
        kept: dict[str, Any] = {}  # what else the delivery row keeps besides the reply
        if message.delivery_key is not None:
            delivery = known.first_use(
                known.deliveries,
                (message.channel, message.delivery_key),
                lambda: _record_delivery(session, message, self.backend.runtime.clock.now()),
            )
            if delivery is None:
                logger.info("duplicate delivery %s/%s", message.channel, message.delivery_key)
                stored = session.scalar(
                    select(InboundMessage.reply).where(
                        InboundMessage.channel == message.channel, InboundMessage.message_key == message.delivery_key
                    )
                )
                return TurnOutcome(replies=stored, duplicate=True)
        now = self.backend.runtime.clock.now()
        if message.unfollow:
            tail.states.append(_state(message, {}, now))
            replies: dict[str, Any] = {"messages": []}
        else:
            person = _sender(session, message, known, now)
            row = known.first_use(
                known.states, (message.channel, message.user_id), lambda: _locked_state_row(session, message)
            )
            state, expired = _dialogue(row, now, idle_minutes=self.backend.runtime.settings.session_idle_minutes)
            speaker = Speaker.of(person)
            casework = Casework(
                session, self.backend.runtime, speaker, channel=message.channel, user_id=message.user_id
            )
            try:
                result = answer(TurnContext(speaker=speaker, state=state, expired=expired, casework=casework, now=now))
            finally:
                casework.close()
            if person.erased_at is not None:
                # The turn erased the sender: keep nothing under their account.
                _forget_state(session, message)
                kept["external_id"] = None
            else:
                tail.states.append(_state(message, result.state, self.backend.runtime.clock.now()))
            replies = result.replies
            if result.queued:
                tail.replies.append(
                    {
                        "key": f"{message.channel}:reply:{message.delivery_key or uuid.uuid4().hex}"[:200],
                        "person_id": person.id,
                        "channel": message.channel,
                        "external_id": message.user_id,
                        "kind": NoticeKind.chat_reply.value,
                        "priority": reply_priority(to_staff=speaker.staff is not None),
                        "payload": result.queued,
                    }
                )
        if delivery is not None:
            tail.deliveries.append({"id": delivery, "reply": replies, **kept})
        session.flush()
        return TurnOutcome(replies=replies)


def _tried_twice(turn: Callable[[], TurnOutcome], channel: str) -> TurnOutcome:
    """Run a turn (which rolls itself back when it fails); once more after a concurrent insert, failed after any
    other error. A lost database connection propagates."""
    for attempt in (1, 2):
        try:
            return turn()
        except (OperationalError, InterfaceError):
            raise
        except IntegrityError:
            if attempt == 1:
                # Another process inserted the same row (say, a new sender's identity) since this turn
                # began; a second try sees it.
                logger.info("conversation turn on %s met a concurrent insert; trying again", channel)
                continue
            logger.exception("conversation turn failed on %s", channel)
        except Exception:
            logger.exception("conversation turn failed on %s", channel)
            break
    return TurnOutcome(replies=None, failed=True)


@contextmanager
def _unavailable(what: str) -> Iterator[None]:
    """A lost database connection as BackendUnavailable (nothing of the work was stored)."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        reason = str(exc.orig or exc).splitlines()[0][:200]
        logger.warning("%s: database unavailable: %s", what, reason)
        raise BackendUnavailable(reason) from exc


def _record_delivery(session: Session, message: ChatMessage, now: datetime) -> int | None:
    """The id of this delivery's dedupe row; None if the message id was seen before.

    ON CONFLICT rather than a savepoint around the insert: a copy arriving while the first is being answered
    still waits on the unique index, and then gets the first one's stored reply."""
    assert message.delivery_key is not None
    return _record_deliveries(session, [message], now)[message.channel, message.delivery_key]


def _record_deliveries(
    session: Session, messages: Sequence[ChatMessage], now: datetime
) -> dict[tuple[str, str], int | None]:
    """_record_delivery for several messages in one statement: (channel, key) → row id, None for a redelivery."""
    keys = list(dict.fromkeys((m.channel, m.delivery_key, m.user_id) for m in messages if m.delivery_key))
    if not keys:
        return {}
    table = InboundMessage.__table__
    rows = [{"channel": c, "message_key": k, "external_id": u, "reply": None, "created_at": now} for c, k, u in keys]
    inserted = session.execute(
        upsert_insert(session)(table)
        .on_conflict_do_nothing(index_elements=[table.c.channel, table.c.message_key])
        .returning(table.c.id, table.c.channel, table.c.message_key),
        rows,
    ).all()
    recorded: dict[tuple[str, str], int | None] = dict.fromkeys(((c, k) for c, k, _ in keys), None)
    recorded.update(((channel, key), row_id) for row_id, channel, key in inserted)
    return recorded


def _stamp_arrivals(session: Session, identities: list[ChannelIdentity], now: datetime) -> None:
    """Stamp the senders' latest message (a channel's reply window runs from it) in one statement, not a turn's
    UPDATE each; the loaded rows are told, and stay clean."""
    if not identities:
        return
    session.execute(
        update(ChannelIdentity)
        .where(ChannelIdentity.id.in_([i.id for i in identities]))
        .values(last_inbound_at=now)
        .execution_options(synchronize_session=False)
    )
    for identity in identities:
        set_committed_value(identity, "last_inbound_at", now)


def _sender(session: Session, message: ChatMessage, known: Prefetched, now: datetime) -> Person:
    """The person behind the chat identity, created as a resident on first contact."""
    key = (message.channel, message.user_id)
    identity = known.first_use(
        known.identities, key, lambda: identity_of(session, channel=message.channel, external_id=message.user_id)
    )
    if identity is None:
        return new_resident(
            session,
            channel=message.channel,
            external_id=message.user_id,
            name=message.display_name,
            language=message.language,
        )
    if key in known.created:
        known.created.discard(key)
        return identity.person  # created for this very turn, its arrival stamped
    if key in known.stamped:
        known.stamped.discard(key)  # stamped with the rest of its batch
    else:
        identity.last_inbound_at = now
    if message.language_given and identity.language != message.language:
        identity.language = message.language
    return identity.person


def _locked_state_row(session: Session, message: ChatMessage) -> ConversationState | None:
    """The sender's stored dialogue, locked for the turn.

    PostgreSQL locks the row; SQLite turns hold the write lock from their start. A job that is storing this
    dialogue's unanswered report (usecases/abandoned.py) finishes first, and the turn then reads what it left
    instead of answering the old question a second time.
    """
    return session.get(
        ConversationState, (message.channel, message.user_id), with_for_update=True, populate_existing=True
    )


def _dialogue(row: ConversationState | None, now: datetime, *, idle_minutes: int) -> tuple[dict[str, Any], bool]:
    """The stored dialogue state, and whether a dialogue in progress expired (its steps are then dropped)."""
    if row is None:
        return {}, False
    state = dict(row.state or {})
    if state.get("flow") and row.updated_at + timedelta(minutes=idle_minutes) < now:
        return {k: state[k] for k in STICKY_KEYS if k in state}, True
    return state, False


def _forget_state(session: Session, message: ChatMessage) -> None:
    row = session.get(ConversationState, (message.channel, message.user_id))
    if row is not None:
        session.delete(row)
        session.flush()


def _state(message: ChatMessage, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The sender's dialogue row as the turn leaves it (a new dict, so the JSON column sees a change)."""
    return {"channel": message.channel, "external_id": message.user_id, "state": dict(state), "updated_at": now}


_SQLITE_WRITE_LOCK = text("UPDATE conversation_states SET channel = channel WHERE 0")
_SQLITE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _sqlite_lock(url: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _SQLITE_LOCKS.setdefault(url, threading.Lock())

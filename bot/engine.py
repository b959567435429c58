"""The channel-neutral conversation engine: one Inbound in, a list of Outbound back.

Adapters call `handle_once` (dedupe on the platform's message id, then `handle`). Everything a
dialogue needs between turns lives in the database (ConversationState), never in this object, so
a restart or a second process continues the conversation.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import InboundMessage, Notification, Person, Staff
from backend.runtime import Runtime
from backend.services.people import identity_of, new_resident
from bot.adapters import REPLY_KIND
from bot.catalogue import lang_of, t
from bot.flows import resident, staff
from bot.flows.context import Turn
from bot.flows.state import load_state, save_state
from bot.messages import Button, Inbound, InboundKind, Outbound, OutboundKind
from bot.throttle import STATE_KEY as THROTTLE_KEY
from bot.throttle import SenderLimit, Verdict

logger = logging.getLogger(__name__)

# Chooses, inside a turn's transaction, which of its replies go to the outbox in the same commit.
ReplyRoute = Callable[[list[Outbound]], list[Outbound]]


class TurnUnavailable(Exception):
    """The database could not be reached: nothing of the turn was stored; the message should come again."""


class ConversationEngine:
    """Runs one dialogue turn per inbound message against the database and the services."""

    def __init__(self, runtime: Runtime, session_factory: sessionmaker[Session]) -> None:
        self.runtime = runtime
        self.session_factory = session_factory
        self.limit = SenderLimit(runtime.settings.chat_rate_per_minute, runtime.settings.chat_rate_burst)
        bind = session_factory.kw.get("bind")
        # SQLite allows one writer and a turn reads before it writes: turns on one file take turns
        # within a process (PostgreSQL needs no such thing).
        self._serial = (
            _sqlite_lock(str(bind.engine.url)) if bind is not None and bind.dialect.name == "sqlite" else None
        )

    def handle(self, inbound: Inbound) -> list[Outbound]:
        """Answer one inbound message (synchronous; run it in a threadpool from async code).

        For the console and simulator: a database outage is answered with an apology."""
        try:
            return self._answer(inbound, dedupe_key=None, outbox=None)
        except TurnUnavailable:
            return [Outbound.say(t("error.internal", lang_of(inbound.language)))]

    def handle_once(self, inbound: Inbound, *, outbox: ReplyRoute | None = None) -> list[Outbound]:
        """`handle` at most once per (channel, message_id): a redelivery gets the stored reply.

        The delivery is recorded in the turn's own transaction, so a turn that fails leaves no record
        and the platform's retry is answered afresh; a copy arriving while the first delivery is being
        answered waits for it (PostgreSQL's unique index, SQLite's write lock) and gets the same reply.
        `outbox(replies)`, called just before the commit, names the replies to queue for the outbox in
        that same commit, so a reply cannot be lost between the turn and the queue.

        Raises TurnUnavailable when the database is unreachable, so the adapter can ask the platform
        to deliver the message again rather than lose it.
        """
        return self._answer(inbound, dedupe_key=inbound.message_id[:128] if inbound.message_id else None, outbox=outbox)

    def _answer(self, inbound: Inbound, *, dedupe_key: str | None, outbox: ReplyRoute | None) -> list[Outbound]:
        lang = lang_of(inbound.language)
        for attempt in (1, 2):
            with self._serial or nullcontext(), self.session_factory() as session:
                try:
                    return self._attempt(session, inbound, dedupe_key, outbox)
                except IntegrityError:
                    session.rollback()
                    if attempt == 1:
                        # Another process inserted the same row (say, a new sender's identity) since this
                        # turn began; a second try sees it.
                        logger.info("conversation turn on %s met a concurrent insert; trying again", inbound.channel)
                        continue
                    logger.exception("conversation turn failed on %s", inbound.channel)
                except (OperationalError, InterfaceError) as exc:
                    logger.warning(
                        "conversation turn on %s: database unavailable: %s",
                        inbound.channel,
                        str(exc.orig or exc).splitlines()[0][:200],
                    )
                    session.rollback()
                    raise TurnUnavailable(str(exc.orig) if exc.orig else str(exc)) from exc
                except Exception:
                    logger.exception("conversation turn failed on %s", inbound.channel)
                    session.rollback()
        return [Outbound.say(t("error.internal", lang))]

    def _attempt(
        self, session: Session, inbound: Inbound, dedupe_key: str | None, outbox: ReplyRoute | None
    ) -> list[Outbound]:
        if self._serial is not None:
            # Take SQLite's write lock before the turn's first read: a deferred transaction that
            # reads, then writes, fails at once ("database is locked") if another writer got in.
            session.execute(_SQLITE_WRITE_LOCK)
        delivery = None
        if dedupe_key is not None:
            delivery = self._record_delivery(session, inbound.channel, dedupe_key)
            if delivery is None:
                return self._stored_reply(session, inbound.channel, dedupe_key)
        out, person_id = self._turn(session, inbound)
        if delivery is not None:
            delivery.reply = outbound_to_json(out)
        queued = outbox(out) if outbox is not None else []
        if queued:
            session.add(
                Notification(
                    key=f"{inbound.channel}:reply:{inbound.message_id or uuid.uuid4().hex}"[:200],
                    person_id=person_id,
                    channel=inbound.channel,
                    external_id=inbound.user_id,
                    kind=REPLY_KIND,
                    payload=outbound_to_json(queued),
                )
            )
        session.commit()
        return out

    def _record_delivery(self, session: Session, channel: str, key: str) -> InboundMessage | None:
        """The dedupe row of this delivery, flushed; None if the message id was seen before."""
        delivery = InboundMessage(channel=channel, message_key=key, reply=None, created_at=self.runtime.clock.now())
        session.add(delivery)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            return None
        return delivery

    @staticmethod
    def _stored_reply(session: Session, channel: str, key: str) -> list[Outbound]:
        stored = session.scalar(
            select(InboundMessage.reply).where(InboundMessage.channel == channel, InboundMessage.message_key == key)
        )
        logger.info("duplicate delivery %s/%s", channel, key)
        return outbound_from_json(stored) if stored else []

    def _turn(self, session: Session, inbound: Inbound) -> tuple[list[Outbound], int | None]:
        """The replies to one message, and the sender's person id (None if they just unfollowed)."""
        rt = self.runtime
        now = rt.clock.now()
        lang = lang_of(inbound.language)
        ident = identity_of(session, channel=inbound.channel, external_id=inbound.user_id)
        if inbound.kind is InboundKind.unfollow:
            save_state(session, inbound.channel, inbound.user_id, {}, now)
            return [], None
        member: Staff | None = None
        if ident is not None:
            person: Person = ident.person
            if person.staff is not None and person.staff.active:
                member = person.staff
            ident.last_inbound_at = now
            if inbound.language and ident.language != lang:
                ident.language = lang
        else:
            person = new_resident(
                session, channel=inbound.channel, external_id=inbound.user_id, name=inbound.display_name, language=lang
            )
        state, expired = load_state(
            session, inbound.channel, inbound.user_id, now, idle_minutes=rt.settings.session_idle_minutes
        )
        throttle = state.pop(THROTTLE_KEY, None)
        if self.limit.enabled:
            verdict, throttle = self.limit.check(throttle, now.timestamp())
            if verdict is not Verdict.handle:
                logger.info("rate limited %s sender (%s)", inbound.channel, verdict.value)
                save_state(session, inbound.channel, inbound.user_id, {**state, THROTTLE_KEY: throttle}, now)
                return ([Outbound.say(t("throttle.slow_down", lang))] if verdict is Verdict.warn else []), person.id
        turn = Turn(session=session, rt=rt, inbound=inbound, person=person, staff=member, lang=lang, state=state)
        if expired:
            turn.say("session.expired")
        if member is not None:
            staff.handle(turn)
        else:
            resident.handle(turn)
        kept = {**turn.state, THROTTLE_KEY: throttle} if throttle is not None else turn.state
        save_state(session, inbound.channel, inbound.user_id, kept, rt.clock.now())
        return turn.out, person.id


_SQLITE_WRITE_LOCK = text("UPDATE conversation_states SET channel = channel WHERE 0")
_SQLITE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _sqlite_lock(url: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _SQLITE_LOCKS.setdefault(url, threading.Lock())


def outbound_to_json(messages: list[Outbound]) -> dict[str, Any]:
    """A reply as JSON for the dedupe table (and the simulator)."""
    return {"messages": [asdict(m) for m in messages]}


def outbound_from_json(data: dict[str, Any]) -> list[Outbound]:
    """The inverse of outbound_to_json."""
    out = []
    for m in data.get("messages", []):
        buttons = tuple(Button(**b) for b in m.get("buttons", ()))
        out.append(
            Outbound(
                kind=OutboundKind(m["kind"]),
                text=m.get("text", ""),
                title=m.get("title", ""),
                buttons=buttons,
                image_url=m.get("image_url", ""),
            )
        )
    return out

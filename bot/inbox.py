"""The inbox processor: the chat turns of messages the webhooks stored (backend.usecases.inbox).

A webhook in inbox mode (GRIDBOT_INBOX_ENABLED) verifies and parses a message, stores it with
`store_inbound` and answers at once. The processor claims stored messages in batches — per sender only the
oldest unfinished one, so a sender's turns run in order — and runs the batch's turns in one transaction
(`Chatbot.handle_batch`, each turn in a savepoint): their tickets, audit, dialogue states and replies for the
outbox commit together with the inbox rows marked done. A WeChat/WeCom webhook of this same process that
still waits for a message (bot.webhook.inbox_wait) gets that turn's replies for the passive answer after the
commit. When a batch cannot run that way (a message that does not decode, an error outside the turns) its
messages run one by one, each a batch of one. Either way a turn that fails stores nothing: it is retried after
a pause, then parked with its error (listed by the admin API), never dropped nor answered with an apology.

`gridbot process` runs one processor; `gridbot serve` runs `GRIDBOT_INBOX_SERVE_PROCESSORS` of them in
threads of its own (1 by default, so one command is enough on SQLite; 0 when `gridbot process` runs apart).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from backend.usecases import inbox, passive_replies
from backend.usecases.channels import NonceReplayed, NonceUse
from bot.chatbot import ReplyRoute, TurnUnavailable
from bot.lifespan import run_during
from bot.messages import Inbound, InboundKind, Outbound, outbound_to_json
from bot.webhook.deadline import chat_turn_pool, passive_split
from bot.webhook.inbox_wait import WAITERS, BacklogGauge, InboxReplies, ReplyWaiters, TurnsElsewhere

if TYPE_CHECKING:
    from backend.settings import Settings

logger = logging.getLogger(__name__)


def inbound_to_json(inbound: Inbound) -> dict[str, Any]:
    """An Inbound as the inbox stores it (JSON: photo bytes in base64, the time in ISO 8601)."""
    # Shallow, field by field: asdict deep-copies every value (24 µs against 2 of an acknowledgement's ~450).
    data = {field.name: getattr(inbound, field.name) for field in fields(inbound)}
    data["kind"] = inbound.kind.value
    data["image"] = base64.b64encode(inbound.image).decode() if inbound.image is not None else None
    data["received_at"] = inbound.received_at.isoformat() if inbound.received_at is not None else None
    return data


def inbound_from_json(data: dict[str, Any]) -> Inbound:
    """The Inbound stored by inbound_to_json."""
    values = dict(data)
    values["kind"] = InboundKind(values["kind"])
    image = values.get("image")
    values["image"] = base64.b64decode(image) if image is not None else None
    at = values.get("received_at")
    values["received_at"] = datetime.fromisoformat(at) if at else None
    return Inbound(**values)


def arrival_of(inbound: Inbound, nonce: NonceUse | None = None, reply_until: datetime | None = None) -> inbox.Arrival:
    """A parsed message as the inbox stores it (`nonce`: its request's, recorded with it; `reply_until`: until
    when its webhook waits for a processor of another process to answer passively)."""
    return inbox.Arrival(
        inbound.channel, inbound.message_id, inbound.user_id, inbound_to_json(inbound), nonce, reply_until
    )


def store_inbound(session_factory: sessionmaker[Session], inbound: Inbound, nonce: NonceUse | None = None) -> bool:
    """Store one parsed message for the processor; False for a message id stored before (a redelivery)."""
    arrival = arrival_of(inbound, nonce)
    return inbox.store(
        session_factory,
        channel=arrival.channel,
        message_id=arrival.message_id,
        sender=arrival.sender,
        payload=arrival.payload,
        nonce=nonce,
    )


class InboxWriter:
    """Stores the messages of one webhook's requests: those that arrive while a write runs go together in
    the next one, in one transaction, so a busy process commits far less often than it acknowledges (at one
    request at a time nothing waits). A request returns only once its own message has committed."""

    MAX_BATCH = 200

    def __init__(self, session_factory: sessionmaker[Session], executor: Executor | None) -> None:
        self.session_factory = session_factory
        self.executor = executor  # where the writes run (SQLite: the chat-turn thread)
        self._waiting: list[tuple[inbox.Arrival, asyncio.Future[bool | NonceReplayed]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def store(self, inbound: Inbound, nonce: NonceUse | None = None, reply_until: datetime | None = None) -> bool:
        """store_inbound, shared with the other requests of the moment; NonceReplayed for a replay."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool | NonceReplayed] = loop.create_future()
        self._waiting.append((arrival_of(inbound, nonce, reply_until), future))
        if self._writer is None:
            self._writer = loop.create_task(self._write())
        stored = await future
        if isinstance(stored, NonceReplayed):
            raise stored
        return stored

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self.MAX_BATCH], self._waiting[self.MAX_BATCH :]
                arrivals = [arrival for arrival, _ in batch]
                try:
                    results = await loop.run_in_executor(
                        self.executor, inbox.store_many, self.session_factory, arrivals
                    )
                except Exception as exc:  # the database is away: every request of the batch hears it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), stored in zip(batch, results, strict=True):
                    if not future.done():  # a request that gave up waiting: its message is stored all the same
                        future.set_result(stored)
        finally:
            self._writer = None


def inbox_replies(
    settings: Settings, session_factory: sessionmaker[Session], executor: Executor | None
) -> InboxReplies | None:
    """The inbox side of a WeChat/WeCom webhook when the inbox is on, else None. It waits for a passive reply
    from the processors of this process, or, when they all run elsewhere, through PostgreSQL (not SQLite)."""
    if not settings.inbox_enabled:
        return None
    local = settings.inbox_serve_processors > 0
    elsewhere = None
    if not local and not settings.is_sqlite:
        elsewhere = TurnsElsewhere(reply_signals(session_factory), session_factory, executor=executor)
    return InboxReplies(
        InboxWriter(session_factory, executor).store,
        gauge=BacklogGauge(session_factory, up_to=settings.inbox_backlog_bound, executor=executor),
        bound=settings.inbox_backlog_bound,
        wait=settings.inbox_reply_wait_seconds if local or elsewhere is not None else 0.0,
        waiters=WAITERS if local else None,
        elsewhere=elsewhere,
    )


_SIGNALS: dict[sessionmaker[Session], passive_replies.ReplySignals] = {}
_SIGNALS_LOCK = threading.Lock()


def reply_signals(session_factory: sessionmaker[Session]) -> passive_replies.ReplySignals:
    """The process's one listener of passive-reply signals per database, started on first use."""
    with _SIGNALS_LOCK:
        signals = _SIGNALS.get(session_factory)
        if signals is None:
            signals = _SIGNALS[session_factory] = passive_replies.ReplySignals(session_factory)
            signals.start()
        return signals


def close_reply_signals(session_factory: sessionmaker[Session]) -> None:
    """Stop the listener of reply_signals(session_factory), if one runs (the app's shutdown)."""
    with _SIGNALS_LOCK:
        signals = _SIGNALS.pop(session_factory, None)
    if signals is not None:
        signals.close()


def _decoded(item: inbox.InboxItem) -> Inbound | None:
    try:
        return inbound_from_json(item.payload)
    except Exception:  # a payload that does not decode: its own turn fails, retried then parked
        return None


@dataclass(frozen=True)
class ProcessorConfig:
    """Tuning of one processor."""

    batch_size: int = 50
    lease_seconds: float = 60.0
    max_attempts: int = 5
    retry_seconds: float = 1.0
    idle_sleep: float = 0.05

    @classmethod
    def from_settings(cls, settings: Any) -> ProcessorConfig:
        """From backend.settings.Settings (inbox_batch_size, inbox_lease_seconds, inbox_max_attempts)."""
        return cls(
            batch_size=int(settings.inbox_batch_size),
            lease_seconds=float(settings.inbox_lease_seconds),
            max_attempts=int(settings.inbox_max_attempts),
        )


class BatchChat(Protocol):
    """What the processor needs of the chatbot (bot.chatbot.Chatbot implements it)."""

    def analysing(self, inbounds: Sequence[Inbound]) -> AbstractContextManager[None]: ...

    def handle_batch(
        self,
        turns: Sequence[tuple[Inbound, ReplyRoute]],
        *,
        before_commit: Callable[[Session, list[bool]], None],
        before_turns: Callable[[Session], None] | None = None,
    ) -> list[list[Outbound] | None]: ...


class PassiveAnswers:
    """The turns of a batch whose webhook waits in another process (backend.usecases.passive_replies): those
    still awaited when the batch's transaction opens give their passive answer through the inbox row."""

    def __init__(self, items: Sequence[inbox.InboxItem], inbounds: Sequence[Inbound]) -> None:
        self._awaited = {
            item.id: (item, inbound)
            for item, inbound in zip(items, inbounds, strict=True)
            if item.reply_until is not None
        }
        self._taken: set[int] = set()
        self._answers: dict[int, str] = {}

    def take(self, session: Session) -> None:
        """At the start of the batch's transaction (again if it runs twice)."""
        self._taken = passive_replies.take(session, list(self._awaited)) if self._awaited else set()
        self._answers = {}

    def route(self, item: inbox.InboxItem, out: list[Outbound]) -> list[Outbound]:
        """Inside the turn: what goes to the outbox; the rest is kept for the webhook's passive answer."""
        if item.id not in self._taken:
            return out
        _, inbound = self._awaited[item.id]
        self._answers[item.id] = json.dumps(outbound_to_json(out), ensure_ascii=False)
        return passive_split(inbound)(out)[1]

    def give(self, session: Session, stored: set[int]) -> None:
        """Before the commit: the answers of the turns that stored their work, for their webhooks."""
        answers = {row_id: text for row_id, text in self._answers.items() if row_id in stored}
        keys = {row_id: (self._awaited[row_id][0].channel, self._awaited[row_id][0].message_id) for row_id in answers}
        passive_replies.give(session, answers, keys)


class InboxProcessor:
    """Claims stored messages and runs their turns; call process_once() repeatedly or run() until stopped."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        chat: BatchChat,
        *,
        worker_id: str,
        config: ProcessorConfig | None = None,
        on_turn: Callable[[inbox.InboxItem], None] | None = None,
        executor: Executor | None = None,
        waiters: ReplyWaiters | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.chat = chat
        self.worker_id = worker_id
        self.config = config or ProcessorConfig()
        self.on_turn = on_turn  # called in each turn before it commits (the fault test's hook)
        # Where batches run: on SQLite the process's one chat-turn thread, so that all of its writers take turns.
        self.executor = executor
        self.waiters = waiters  # the webhook requests of this process waiting for their turns, if any

    def process_once(self) -> int:
        """Claim one batch and run its turns; returns how many messages were claimed."""
        items = inbox.claim(
            self.session_factory,
            worker_id=self.worker_id,
            batch_size=self.config.batch_size,
            lease_seconds=self.config.lease_seconds,
        )
        inbounds = [_decoded(item) for item in items]
        readable = [inbound for inbound in inbounds if inbound is not None]
        with self.chat.analysing(readable):  # the batch's texts classified in one call
            if items and len(readable) == len(items) and self._together(items, readable, alone=False):
                return len(items)
            # Turn by turn, each a batch of one: a failing turn is handled exactly as in a whole batch.
            for item, inbound in zip(items, inbounds, strict=True):
                if inbound is None:
                    self._failed(item, self._waiter(item), ValueError("the stored message does not decode"))
                else:
                    self._together([item], [inbound], alone=True)
        return len(items)

    def _waiter(self, item: inbox.InboxItem) -> Any:
        return self.waiters.take(item.channel, item.message_id) if self.waiters is not None else None

    def _together(self, items: list[inbox.InboxItem], inbounds: list[Inbound], *, alone: bool) -> bool:
        """The turns and their inbox rows' `done` in one transaction. False when a batch failed outside its
        turns (its messages must go one by one); a message alone is then retried later or parked."""
        waiters = [self._waiter(item) for item in items]
        elsewhere = PassiveAnswers(items, inbounds)
        turns = [
            (inbound, self._route(item, waiter, elsewhere))
            for item, inbound, waiter in zip(items, inbounds, waiters, strict=True)
        ]

        def done(session: Session, stored: list[bool]) -> None:
            finished = [item.id for item, ok in zip(items, stored, strict=True) if ok]
            inbox.finish(session, finished)
            elsewhere.give(session, set(finished))

        try:
            replies = self.chat.handle_batch(turns, before_commit=done, before_turns=elsewhere.take)
        except TurnUnavailable as exc:
            for waiter in waiters:
                if waiter is not None:
                    waiter.fail(exc)
            raise  # the database is away: the lease brings the batch back later
        except Exception as exc:
            if alone:
                logger.exception("inbox: message %s (%s) failed outside its turn", items[0].id, items[0].channel)
                self._failed(items[0], waiters[0], exc)
                return True
            logger.exception("inbox: batch of %d failed outside its turns; running them one by one", len(items))
            for item, waiter in zip(items, waiters, strict=True):
                if waiter is not None and self.waiters is not None:
                    self.waiters.expect(item.channel, item.message_id, waiter)  # the turn-by-turn run takes it
            return False
        for item, waiter, out in zip(items, waiters, replies, strict=True):
            if out is None:  # the turn failed and stored nothing: retried after a pause, then parked
                self._failed(item, waiter, RuntimeError("the turn failed; see the processor's log"))
            elif waiter is not None:
                waiter.deliver(out)
        return True

    def _route(
        self, item: inbox.InboxItem, waiter: Any, elsewhere: PassiveAnswers
    ) -> Callable[[list[Outbound]], list[Outbound]]:
        """Inside the turn, before it commits: the hook, then the route of the webhook waiting in this process,
        or of one waiting in another process, or all to the outbox."""
        route = waiter.route if waiter is not None else partial(elsewhere.route, item)

        def routed(out: list[Outbound]) -> list[Outbound]:
            if self.on_turn is not None:
                self.on_turn(item)
            return route(out)

        return routed

    def _failed(self, item: inbox.InboxItem, waiter: Any, exc: BaseException) -> None:
        """A turn that stored nothing: the waiting webhook is told, the message retried later or parked."""
        if waiter is not None:
            waiter.fail(exc)
        parked = inbox.fail(
            self.session_factory,
            item,
            f"{type(exc).__name__}: {exc}",
            max_attempts=self.config.max_attempts,
            retry_seconds=self.config.retry_seconds,
        )
        if parked:
            logger.error("inbox: message %s parked after %d attempts", item.id, item.attempts)

    def run(self, stop_event: threading.Event) -> None:
        """Process until stop_event is set."""
        logger.info("inbox processor %s started", self.worker_id)
        while not stop_event.is_set():
            try:
                if self.executor is not None:
                    claimed = self.executor.submit(self.process_once).result()
                else:
                    claimed = self.process_once()
            except (TurnUnavailable, DBAPIError):
                logger.warning("inbox processor %s: database unavailable, pausing", self.worker_id, exc_info=True)
                stop_event.wait(1.0)
                continue
            if not claimed:
                stop_event.wait(self.config.idle_sleep)
        logger.info("inbox processor %s stopped", self.worker_id)


def run_in_app(app: FastAPI, session_factory: sessionmaker[Session], chat: BatchChat, settings: Settings) -> None:
    """Run `settings.inbox_serve_processors` processors in threads for the app's lifetime (`gridbot serve`)."""
    count = settings.inbox_serve_processors if settings.inbox_enabled else 0
    if count == 0:
        return
    pool = chat_turn_pool(settings.database_url) if settings.is_sqlite else None
    config = ProcessorConfig.from_settings(settings)

    @asynccontextmanager
    async def processors_running() -> AsyncIterator[None]:
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=InboxProcessor(
                    session_factory,
                    chat,
                    worker_id=f"serve-{socket.gethostname()}-{os.getpid()}-{n}",
                    config=config,
                    executor=pool,
                    waiters=WAITERS,
                ).run,
                args=(stop,),
                name=f"inbox-{n}",
                daemon=True,
            )
            for n in range(count)
        ]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=config.lease_seconds)

    run_during(app, processors_running)

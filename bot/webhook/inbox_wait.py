"""A webhook in inbox mode: store the message, then wait a little for the turn to give a passive reply.

The webhook stores the parsed message (one insert; a redelivered message id stores nothing) and, when an
inbox processor runs in this same process, waits up to `wait` seconds for it to finish the turn: the
processor takes the webhook's `Waiter` from `WAITERS` by (channel, message id), runs the turn with the
waiter's OutboxChoice and hands the replies back through an asyncio future (no thread and no database
connection is held while waiting). When the wait runs out, OutboxChoice.stop_waiting makes the turn queue
every reply in the outbox (customer-service messages), exactly as a slow turn does without the inbox.

When the processors run in other processes (`gridbot process`, `GRIDBOT_INBOX_SERVE_PROCESSORS=0`) on
PostgreSQL, the webhook waits through the database instead (`TurnsElsewhere`, backend.usecases.passive_replies):
it stores the message with the time it will wait until, and a processor that runs the turn in time leaves the
replies on the inbox row and signals (NOTIFY). On SQLite with no processor in the process, nothing waits: the
webhook answers at once and every reply goes through the outbox.

Back-pressure: past `bound` unfinished messages (a count cached for REFRESH_SECONDS, not one COUNT per
request) the message is still stored, and the answer is at once a catalogue text saying it will come later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

from fastapi import HTTPException, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from backend.texts import lang_of, t
from backend.usecases import inbox, passive_replies
from backend.usecases.channels import NonceReplayed, NonceUse
from bot.messages import Inbound, Outbound, outbound_from_json
from bot.webhook.deadline import OutboxChoice

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

REFRESH_SECONDS = 0.5
BUSY_KEY = "inbox.busy"


def settle_from_thread(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[_T], how: Callable[[asyncio.Future[_T]], None]
) -> None:
    """Settle `future` of `loop` by `how`, from another thread, unless it is settled already."""

    def settle() -> None:
        if not future.done():
            how(future)

    # A closed loop (shutdown) raises RuntimeError: nobody waits any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(settle)


@dataclass
class Waiter:
    """A webhook request waiting for its message's turn: the route the turn uses and where its replies go."""

    choice: OutboxChoice
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[Outbound]] = field(init=False)

    def __post_init__(self) -> None:
        self.future = self.loop.create_future()

    def route(self, out: list[Outbound]) -> list[Outbound]:
        """The turn's reply route (called inside its transaction)."""
        return self.choice(out)

    def deliver(self, out: list[Outbound]) -> None:
        """The turn has committed (called from the processor's thread)."""
        settle_from_thread(self.loop, self.future, lambda f: f.set_result(out))

    def fail(self, error: BaseException) -> None:
        """The turn did not commit (called from the processor's thread)."""
        settle_from_thread(self.loop, self.future, lambda f: f.set_exception(error))


class ReplyWaiters:
    """The webhook requests of this process that wait for their turn, by (channel, message id)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[tuple[str, str], Waiter] = {}

    def expect(self, channel: str, message_id: str, waiter: Waiter) -> None:
        """Register a waiter before its message is stored (so a processor cannot miss it)."""
        with self._lock:
            self._waiting[(channel, message_id[: inbox.MESSAGE_ID_LENGTH])] = waiter

    def take(self, channel: str, message_id: str) -> Waiter | None:
        """The waiter of a message, if a request of this process still waits for it (the processor's side)."""
        with self._lock:
            return self._waiting.pop((channel, message_id[: inbox.MESSAGE_ID_LENGTH]), None)

    def forget(self, channel: str, message_id: str, waiter: Waiter) -> None:
        """The request stops waiting."""
        key = (channel, message_id[: inbox.MESSAGE_ID_LENGTH])
        with self._lock:
            if self._waiting.get(key) is waiter:
                del self._waiting[key]


# The one registry of this process: the webhooks and the processors `gridbot serve` runs in threads share it.
WAITERS = ReplyWaiters()


class BacklogGauge:
    """How many inbox messages wait for their turn, up to `up_to`, counted at most every REFRESH_SECONDS.

    Counting stops at `up_to` (the backlog bound): past it only "busy" matters, and a full count under an
    overload scans every waiting row, its cost growing with the queue the processors are working off."""

    def __init__(self, session_factory: sessionmaker[Session], *, up_to: int, executor: Executor | None) -> None:
        self.session_factory = session_factory
        self.up_to = up_to
        self.executor = executor
        self._count = 0
        self._counted_at = float("-inf")
        self._refreshing = False

    async def count(self) -> int:
        """The cached count; the first caller after it goes stale refreshes it, the others read the old one."""
        if time.monotonic() - self._counted_at >= REFRESH_SECONDS and not self._refreshing:
            self._refreshing = True
            try:
                self._count = await asyncio.get_running_loop().run_in_executor(
                    self.executor, partial(inbox.backlog, self.session_factory, up_to=self.up_to)
                )
                self._counted_at = time.monotonic()
            finally:
                self._refreshing = False
        return self._count


class TurnsElsewhere:
    """Waiting for a turn that a processor of another process runs: through the inbox row and its signal."""

    def __init__(
        self,
        signals: passive_replies.ReplySignals,
        session_factory: sessionmaker[Session],
        *,
        executor: Executor | None,
    ) -> None:
        self.signals = signals
        self.session_factory = session_factory
        self.executor = executor

    async def replies(
        self, inbound: Inbound, store: Callable[[datetime], Awaitable[bool]], until: float
    ) -> list[Outbound] | None:
        """store(the wall-clock end of the wait), then the turn's replies for the passive answer; None when
        they go through the outbox (the wait ran out first). The platform never received the first response to
        a redelivered message: while that wait is still on the row (its process may have died), the redelivery
        adopts it; otherwise it gets the passive answer the turn left, if any."""
        loop = asyncio.get_running_loop()
        signalled: asyncio.Future[str | None] = loop.create_future()  # the text, if the signal carries it
        key = (inbound.channel, inbound.message_id)
        run = partial(loop.run_in_executor, self.executor)

        def wake(text: str | None) -> None:
            settle_from_thread(loop, signalled, lambda f: f.set_result(text))

        self.signals.expect(key, wake)
        try:
            until_at = datetime.now(UTC) + timedelta(seconds=max(until - time.monotonic(), 0.0))
            waiting = await store(until_at) or await run(
                partial(passive_replies.adopt, self.session_factory, *key, until_at)
            )
            if not waiting:  # a redelivery: what its turn left ("" for nothing), or None (the outbox has it)
                left = await run(partial(passive_replies.read, self.session_factory, *key))
                return _replies(left) if left else None
            await asyncio.wait({signalled}, timeout=max(until - time.monotonic(), 0.0))
        finally:
            self.signals.forget(key, wake)
        answer = None
        if signalled.done():
            answer = signalled.result()
            if answer is None:
                answer = await run(partial(passive_replies.read, self.session_factory, *key))
        if answer is None:  # no signal in time (or lost): stop waiting, unless a turn took the answer
            answer = await run(partial(passive_replies.stop_awaiting, self.session_factory, *key))
        return None if answer is None else _replies(answer)


def _replies(answer: str) -> list[Outbound]:
    return outbound_from_json(json.loads(answer)) if answer else []


class InboxReplies:
    """The replies a WeChat/WeCom webhook in inbox mode can answer with (see the module docstring)."""

    def __init__(
        self,
        store: Callable[[Inbound, NonceUse | None, datetime | None], Awaitable[bool]],
        *,
        gauge: BacklogGauge,
        bound: int,
        wait: float,
        waiters: ReplyWaiters | None,
        elsewhere: TurnsElsewhere | None = None,
    ) -> None:
        self.store = store  # bot.inbox.InboxWriter.store: the insert, shared with other requests
        self.gauge = gauge
        self.bound = bound
        self.wait = wait
        # The processors of this process hand replies over in memory; else, if set, those of other processes.
        self.waiters = waiters if wait > 0 else None
        self.elsewhere = elsewhere if wait > 0 and self.waiters is None else None

    async def answer(
        self, inbound: Inbound | None, answer: Callable[[Inbound], Awaitable[Response]], ignored: Response
    ) -> Response:
        """answer(inbound) (which calls `replies`), `ignored` for no message; 503 when the database cannot
        store the message (the platform delivers it again)."""
        if inbound is None:
            return ignored
        try:
            return await answer(inbound)
        except NonceReplayed:
            logger.warning("inbox: %s nonce replayed with another body", inbound.channel)
            raise HTTPException(status_code=403, detail="replayed request") from None
        except DBAPIError:
            logger.warning("inbox: %s message not stored, database unavailable", inbound.channel)
            raise HTTPException(status_code=503, detail="temporarily unavailable") from None

    async def replies(
        self, inbound: Inbound, choice: OutboxChoice, arrived: float, nonce: NonceUse | None = None
    ) -> list[Outbound] | None:
        """Store the message (and the request's `nonce`, in the same transaction); the replies for a passive
        answer, or None when they go through the outbox (or the message was stored before). Past the backlog
        bound: the busy notice, and the turn runs later."""
        loop = asyncio.get_running_loop()
        busy = self.bound > 0 and await self.gauge.count() >= self.bound
        if self.elsewhere is not None and not busy:
            return await self.elsewhere.replies(inbound, partial(self.store, inbound, nonce), arrived + self.wait)
        waiter = Waiter(choice, loop) if self.waiters is not None and not busy else None
        if waiter is not None and self.waiters is not None:
            self.waiters.expect(inbound.channel, inbound.message_id, waiter)
        try:
            stored = await self.store(inbound, nonce, None)
            if not stored:
                return None
            if busy:
                logger.info("inbox: backlog past %d, %s message stored for later", self.bound, inbound.channel)
                return [Outbound.say(t(BUSY_KEY, lang_of(inbound.language)))]
            if waiter is None:
                return None
            return await self._turn(waiter, choice, arrived)
        finally:
            if waiter is not None and self.waiters is not None:
                self.waiters.forget(inbound.channel, inbound.message_id, waiter)

    async def _turn(self, waiter: Waiter, choice: OutboxChoice, arrived: float) -> list[Outbound] | None:
        left = self.wait - (time.monotonic() - arrived)
        done, _ = await asyncio.wait({waiter.future}, timeout=max(left, 0.0))
        if not done and choice.stop_waiting():
            return None  # the turn, whenever it runs, queues every reply in the outbox
        try:
            out = await waiter.future  # finished, or past choosing the passive reply and committing it
        except Exception:  # the turn failed: the processor retries it with every reply to the outbox
            return None
        # A turn that never asked the choice (a message answered before) has its replies queued already.
        return None if choice.stop_waiting() else out

"""Answering a webhook in time: run the engine under a deadline, split what fits a passive reply from what
must go through the outbox (buttons, cards, answers that came too late)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from functools import lru_cache

from fastapi import HTTPException, Response

from bot.adapters import FirstDelivery
from bot.engine import TurnUnavailable
from bot.messages import Inbound, Outbound, OutboundKind

logger = logging.getLogger(__name__)

# WeChat gives up after 5 s and retries; answer well before that.
REPLY_BUDGET_SECONDS = 3.0
# Past the budget, wait this long (from arrival) for the turn to commit before asking for a redelivery.
ACK_DEADLINE_SECONDS = 4.5


class PassiveRoute:
    """Which replies of a turn go to the outbox, decided inside the turn's transaction.

    While the platform still waits, only what a passive reply cannot carry (`split`'s second part) is
    queued; once the adapter has given up waiting (`abandon`), every reply is. The decision and the
    turn commit together, so no reply is lost between the two.
    """

    def __init__(self, split: Callable[[list[Outbound]], tuple[str, list[Outbound]]]) -> None:
        self._split = split
        self._lock = threading.Lock()
        self._abandoned = False
        self._passive = False

    def __call__(self, out: list[Outbound]) -> list[Outbound]:
        with self._lock:
            if self._abandoned:
                return out
            self._passive = True
        return self._split(out)[1]

    def abandon(self) -> bool:
        """Stop waiting: True if the replies will go to the outbox, False if the turn already chose the
        passive reply and is committing it (then wait for it)."""
        with self._lock:
            if self._passive:
                return False
            self._abandoned = True
            return True


@lru_cache(maxsize=4)
def turn_pool(database_url: str) -> ThreadPoolExecutor:
    """The threads engine turns run on: their own, so a backlog of turns does not hold up the quick checks
    (signature, dedupe) of new requests; one on SQLite, which takes one writer at a time anyway."""
    size = 1 if database_url.startswith("sqlite") else 4
    return ThreadPoolExecutor(max_workers=size, thread_name_prefix="chat-turn")


class NotCommitted(Exception):
    """The turn was still running when the platform stopped waiting: answer so that it delivers again."""


class Turns:
    """Engine turns for one webhook, run so that a message is acknowledged only once its turn has committed.

    Within `budget` seconds of arrival the replies come back for the passive answer. Past it, the turn
    queues every reply in the outbox itself, and the request waits for the commit until `deadline`; a turn
    still running then raises NotCommitted (the webhook answers 503), and the platform's redelivery waits
    for that same turn instead of acknowledging a message that is not yet stored.
    """

    def __init__(
        self,
        work: Callable[..., list[Outbound]],
        pool: Executor,
        *,
        first: FirstDelivery,
        sqlite: bool,
        budget: float,
        deadline: float = ACK_DEADLINE_SECONDS,
    ) -> None:
        self.work = work
        self.pool = pool
        self.first = first
        self.budget = budget
        self.deadline = max(deadline, budget)
        self._running: dict[str, asyncio.Future[list[Outbound]]] = {}
        # SQLite: the database work of a request runs on the turn thread too; a second writer thread in the
        # process meets "database is locked" in the engine's turns despite the busy timeout.
        self.checks: Executor | None = pool if sqlite else None

    async def once(
        self,
        inbound: Inbound | None,
        arrived: float,
        answer: Callable[[Inbound], Awaitable[Response]],
        ignored: Response,
    ) -> Response:
        """answer(inbound) for the first delivery of a message; `ignored` for no message or a copy of one
        answered already (or, once that turn has committed, being answered). 503 when the message is not
        stored yet (database unavailable, or a turn past the deadline): the platform delivers it again."""
        try:
            if (
                inbound is None
                or await self.redelivered(inbound.message_id, arrived)
                or not await asyncio.get_running_loop().run_in_executor(
                    self.checks, self.first.claim, inbound.message_id
                )
            ):
                return ignored
            try:
                return await answer(inbound)
            finally:
                self.first.release(inbound.message_id)
        except (TurnUnavailable, NotCommitted):
            raise HTTPException(status_code=503, detail="temporarily unavailable") from None

    async def answer(self, inbound: Inbound, route: PassiveRoute, arrived: float) -> list[Outbound] | None:
        """The replies for a passive answer, or None once the turn has committed them to the outbox."""
        turn = asyncio.get_running_loop().run_in_executor(
            self.pool, functools.partial(self.work, inbound, outbox=route)
        )
        key = inbound.message_id
        if key:
            self._running[key] = turn
            turn.add_done_callback(lambda _: self._running.pop(key, None))
        turn.add_done_callback(_log_failure)
        done, _ = await asyncio.wait({turn}, timeout=max(self.budget - (time.monotonic() - arrived), 0.0))
        if done or not route.abandon():
            return await turn
        logger.warning(
            "engine slower than %.1fs on %s; its replies go through the outbox", self.budget, inbound.channel
        )
        await self._committed(turn, arrived)
        return None

    async def redelivered(self, message_id: str, arrived: float) -> bool:
        """For a redelivery: wait for the first delivery's turn if it is still running; False if none is."""
        turn = self._running.get(message_id)
        if turn is None:
            return False
        await self._committed(turn, arrived)
        return True

    async def _committed(self, turn: asyncio.Future[list[Outbound]], arrived: float) -> None:
        left = self.deadline - (time.monotonic() - arrived)
        done, _ = await asyncio.wait({turn}, timeout=max(left, 0.0))
        if not done:
            raise NotCommitted
        turn.result()  # TurnUnavailable if the database failed it


def _log_failure(future: asyncio.Future[list[Outbound]]) -> None:
    # Retrieve the exception of a turn nobody awaits any more, so asyncio does not report it as lost.
    if not future.cancelled() and future.exception() is not None:
        logger.error("conversation turn failed: %s", type(future.exception()).__name__)


def split_passive(messages: list[Outbound], *, keep_button_text: bool) -> tuple[str, list[Outbound]]:
    """The text a passive reply can carry, and the messages with buttons, which need the outbox.

    With keep_button_text the passive text includes the button messages' text too, and the queued
    copies carry only the buttons (WeChat's msgmenu); otherwise they keep their text (WeCom's cards).
    """
    texts: list[str] = []
    later: list[Outbound] = []
    for m in messages:
        text = "\n".join(part for part in (m.title, m.text) if part)
        if m.kind is OutboundKind.image and m.image_url:
            text = "\n".join(part for part in (text, m.image_url) if part)
        if m.buttons:
            later.append(dataclasses.replace(m, title="", text="") if keep_button_text else m)
            if not keep_button_text:
                continue
        if text:
            texts.append(text)
    return "\n\n".join(texts), later

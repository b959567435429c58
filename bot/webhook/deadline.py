"""The 5-second rule: answer a webhook within the platform's deadline with a passive reply, or push the
replies through the outbox (buttons, cards, answers that came too late). WeChat and WeCom share it."""

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
from typing import Any

from fastapi import HTTPException, Response

from bot.chatbot import TurnUnavailable
from bot.messages import Inbound, Outbound, OutboundKind
from bot.webhook.claims import FirstDelivery
from bot.wechat.links import MAX_TEXT_BYTES, with_links

logger = logging.getLogger(__name__)

# WeChat gives up after 5 s and retries; answer well before that.
REPLY_BUDGET_SECONDS = 3.0
# Past the budget, wait this long (from arrival) for the turn to commit before asking for a redelivery.
ACK_DEADLINE_SECONDS = 4.5


class OutboxChoice:
    """Which replies of a turn go to the outbox, decided inside the turn's transaction.

    While the platform still waits, only what a passive reply cannot carry (`split`'s second part) is
    queued; once the webhook has stopped waiting (`stop_waiting`), every reply is. The decision and the
    turn commit together, so no reply is lost between the two.
    """

    def __init__(self, split: Split) -> None:
        self._split = split
        self._lock = threading.Lock()
        self._stopped_waiting = False
        self._passive = False

    def __call__(self, out: list[Outbound]) -> list[Outbound]:
        with self._lock:
            if self._stopped_waiting:
                return out
            self._passive = True
        return self._split(out)[1]

    def stop_waiting(self) -> bool:
        """True if the replies will now all go to the outbox, False if the turn already chose the
        passive reply and is committing it (then wait for it)."""
        with self._lock:
            if self._passive:
                return False
            self._stopped_waiting = True
            return True


@lru_cache(maxsize=4)
def chat_turn_pool(database_url: str) -> ThreadPoolExecutor:
    """The threads chat turns run on: their own, so a backlog of turns does not hold up the quick checks
    (signature, dedupe) of new requests; one on SQLite, which takes one writer at a time anyway."""
    size = 1 if database_url.startswith("sqlite") else 4
    return ThreadPoolExecutor(max_workers=size, thread_name_prefix="chat-turn")


class NotCommitted(Exception):
    """The turn was still running when the platform stopped waiting: answer so that it delivers again."""


def database_checks(pool: Executor, *, sqlite: bool) -> Executor | None:
    """Where a webhook's own database calls (dedupe, nonces) run: on SQLite the turn thread, since a second
    writer thread in the process meets "database is locked" in the turns despite the busy timeout; elsewhere
    the event loop's default threads (None)."""
    return pool if sqlite else None


class ReplyDeadline:
    """Chat turns for one webhook, run so that a message is acknowledged only once its turn has committed.

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
        budget: float,
        deadline: float = ACK_DEADLINE_SECONDS,
    ) -> None:
        self.work = work
        self.pool = pool
        self.first = first
        self.budget = budget
        self.deadline = max(deadline, budget)

    async def answer_first_delivery(
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
            if inbound is None:
                return ignored
            key = inbound.message_id
            running = self.first.running(key)
            if running is not None:
                await self._committed(running, arrived)
                return ignored
            if not await self.first.claim(key):
                return ignored
            try:
                return await answer(inbound)
            finally:
                self.first.release(key)
        except (TurnUnavailable, NotCommitted):
            raise HTTPException(status_code=503, detail="temporarily unavailable") from None

    async def replies(self, inbound: Inbound, choice: OutboxChoice, arrived: float) -> list[Outbound] | None:
        """The replies for a passive answer, or None once the turn has committed them to the outbox."""
        turn = asyncio.get_running_loop().run_in_executor(
            self.pool, functools.partial(self.work, inbound, outbox=choice)
        )
        self.first.follow(inbound.message_id, turn)
        turn.add_done_callback(_log_failure)
        done, _ = await asyncio.wait({turn}, timeout=max(self.budget - (time.monotonic() - arrived), 0.0))
        if done or not choice.stop_waiting():
            return await turn
        logger.warning(
            "chat turn slower than %.1fs on %s; its replies go through the outbox", self.budget, inbound.channel
        )
        await self._committed(turn, arrived)
        return None

    async def _committed(self, work: asyncio.Future[Any], arrived: float) -> None:
        left = self.deadline - (time.monotonic() - arrived)
        done, _ = await asyncio.wait({work}, timeout=max(left, 0.0))
        if not done:
            raise NotCommitted
        work.result()  # TurnUnavailable if the database failed it


def _log_failure(future: asyncio.Future[list[Outbound]]) -> None:
    # Retrieve the exception of a turn nobody awaits any more, so asyncio does not report it as lost.
    if not future.cancelled() and future.exception() is not None:
        logger.error("chat turn failed: %s", type(future.exception()).__name__)


Split = Callable[[list[Outbound]], tuple[str, list[Outbound]]]


def passive_split(inbound: Inbound) -> Split:
    """How a turn's replies divide between the passive answer and the outbox, by channel and message.

    WeChat's passive text carries button messages whole, their buttons as links (bot/wechat/links.py), or,
    where they cannot be links, their text, the buttons following as a msgmenu. WeCom sends cards through the
    outbox; a press on a card is answered by relabelling its button, so every reply of that turn goes through
    the outbox."""
    if inbound.channel == "wecom":
        return all_to_outbox if inbound.card_press else functools.partial(split_passive, keep_button_text=False)
    if inbound.channel == "wechat":
        return functools.partial(split_passive, keep_button_text=True, inline=with_links)
    return functools.partial(split_passive, keep_button_text=True)


def all_to_outbox(out: list[Outbound]) -> tuple[str, list[Outbound]]:
    """No passive text; every reply but a card button's new label through the outbox."""
    return "", [m for m in out if m.kind is not OutboundKind.card_label]


def split_passive(
    messages: list[Outbound], *, keep_button_text: bool, inline: Callable[[Outbound], str | None] | None = None
) -> tuple[str, list[Outbound]]:
    """The text a passive reply can carry, and the messages with buttons, which need the outbox.

    With keep_button_text the passive text includes the button messages' text too, and the queued
    copies carry only the buttons (WeChat's msgmenu); otherwise they keep their text (WeCom's cards).
    `inline` writes a button message whole into the passive text instead, where it can, the text stays within
    MAX_TEXT_BYTES and no button message before it was queued; such a message is not queued.
    """
    texts: list[str] = []
    later: list[Outbound] = []
    size = 0
    for m in messages:
        text = "\n".join(part for part in (m.title, m.text) if part)
        if m.kind is OutboundKind.image and m.image_url:
            text = "\n".join(part for part in (text, m.image_url) if part)
        if m.buttons:
            # Not after a menu already queued: the resident would see the later question's links before it.
            whole = inline(m) if inline is not None and not later else None
            if whole is not None and (grown := size + len(whole.encode()) + 2) <= MAX_TEXT_BYTES:
                texts.append(whole)
                size = grown
                continue
            later.append(dataclasses.replace(m, title="", text="") if keep_button_text else m)
            if not keep_button_text:
                continue
        if text:
            texts.append(text)
            size += len(text.encode()) + 2
    return "\n\n".join(texts), later

"""Answering a webhook in time: run the engine under a deadline, split what fits a passive reply from what
must go through the outbox (buttons, cards, answers that came too late)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

from bot.messages import Inbound, Outbound, OutboundKind

logger = logging.getLogger(__name__)

# WeChat gives up after 5 s and retries; answer well before that.
REPLY_BUDGET_SECONDS = 3.0


@dataclass
class _Pending:
    lock: threading.Lock = field(default_factory=threading.Lock)
    result: list[Outbound] | None = None
    abandoned: bool = False


@lru_cache(maxsize=4)
def turn_pool(database_url: str) -> ThreadPoolExecutor:
    """The threads engine turns run on: their own, so a backlog of turns does not hold up the quick checks
    (signature, dedupe) of new requests; one on SQLite, which takes one writer at a time anyway."""
    size = 1 if database_url.startswith("sqlite") else 4
    return ThreadPoolExecutor(max_workers=size, thread_name_prefix="chat-turn")


async def answer_within(work: Callable[[Inbound], list[Outbound]], inbound: Inbound, budget: float,
                        late: Callable[[list[Outbound]], None], pool: Executor) -> list[Outbound] | None:
    """Run work(inbound) in a thread; its result, or None after `budget` s — then `late` gets the result."""
    pending = _Pending()
    budget = max(budget, 0.0)

    def run() -> None:
        out = work(inbound)
        with pending.lock:
            if not pending.abandoned:
                pending.result = out
                return
        try:
            late(out)
        except Exception:
            logger.exception("could not queue a late reply on %s", inbound.channel)

    task = asyncio.get_running_loop().run_in_executor(pool, run)
    task.add_done_callback(_log_failure)
    done, _ = await asyncio.wait({task}, timeout=budget)
    if done:
        task.result()  # re-raise a failure of the engine
    with pending.lock:
        if pending.result is not None:
            return pending.result
        pending.abandoned = True
    logger.warning("engine slower than %.1fs on %s; answering later through the outbox", budget, inbound.channel)
    return None


def _log_failure(future: asyncio.Future[None]) -> None:
    # Retrieve the exception of an abandoned turn so asyncio does not report it as never retrieved.
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

"""The Telegram outbox sender: a PTB Bot (over aiohttp) on its own event loop thread, PTB errors mapped to channel
errors."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Coroutine, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from backend.workers.channels import (
    BlockedError,
    Delivery,
    HeldBackError,
    PermanentChannelError,
    TransientChannelError,
)
from bot.outbound import delivery_messages
from bot.telegram.aiohttp_request import AiohttpRequest
from bot.telegram.batch_sender import send_in_chat_order, since_loop_time
from bot.telegram.convert import send_outbound
from bot.telegram.route import file_base_url
from bot.telegram.send_by import SlotMissed

if TYPE_CHECKING:
    from backend.settings import Settings

logger = logging.getLogger(__name__)

SEND_TIMEOUT = 30.0


@contextmanager
def telegram_errors() -> Iterator[None]:
    """Translate PTB exceptions into ChannelErrors."""
    try:
        yield
    except SlotMissed as exc:  # not sent: booked again, not an attempt
        raise HeldBackError(exc.message, retry_after=0.0) from exc
    except RetryAfter as exc:
        wait = exc.retry_after  # a timedelta under PTB_TIMEDELTA (see bot/telegram/__init__.py)
        delay = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        raise TransientChannelError(f"telegram flood control: retry in {delay:.0f}s", retry_after=delay) from exc
    except Forbidden as exc:
        raise BlockedError(f"telegram forbidden: {exc.message}") from exc
    except BadRequest as exc:  # a NetworkError subclass in PTB: catch it first
        raise PermanentChannelError(f"telegram bad request: {exc.message}") from exc
    except (TimedOut, NetworkError) as exc:  # NetworkError covers 5xx and connection failures
        raise TransientChannelError(f"telegram {type(exc).__name__}: {exc.message}") from exc
    except TelegramError as exc:
        raise PermanentChannelError(f"telegram {type(exc).__name__}: {exc.message}") from exc
    except TimeoutError as exc:
        raise TransientChannelError("telegram: no answer in time") from exc


class TelegramSender:
    """Sends outbox deliveries with PTB. `send` is synchronous and thread-safe (the worker calls it from threads)."""

    def __init__(self, token: str, *, api_base: str, pool_size: int = 64) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="telegram-sender", daemon=True)
        self._thread.start()
        request = AiohttpRequest(connection_pool_size=pool_size)
        self.bot = Bot(token, base_url=api_base, base_file_url=file_base_url(api_base), request=request)
        # getMe starts now, in the background: a worker's first batch, booked before it answered, would otherwise
        # start after its rate-limit slots and go back unsent. A worker still starts while the Bot API is
        # unreachable: the first send tries again.
        self._starting: Future[Any] | None = asyncio.run_coroutine_threadsafe(self.bot.initialize(), self._loop)
        self._starting_lock = threading.Lock()
        self._ready = False

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramSender:
        """A sender for the configured bot."""
        return cls(settings.telegram_token.get_secret_value(), api_base=settings.telegram_api_base)

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=SEND_TIMEOUT)

    def send(self, delivery: Delivery) -> None:
        """Send every message of a delivery to its chat."""
        lang = str(delivery.payload.get("lang") or "zh")
        messages = delivery_messages(delivery)

        async def go() -> None:
            for message in messages:
                await send_outbound(self.bot, delivery.recipient, message, lang)

        with telegram_errors():
            self._ensure_ready()
            self._run(go())

    def _ensure_ready(self) -> None:
        """Wait for getMe's answer (asking again if the first try failed); PTB errors propagate."""
        if self._ready:
            return
        with self._starting_lock:  # the worker's send threads meet here on the first sends
            if self._ready:
                return
            starting, self._starting = self._starting, None
            if starting is None or starting.exception(timeout=SEND_TIMEOUT) is not None:
                self._run(self.bot.initialize())
            self._ready = True

    def send_many(
        self, items: Sequence[tuple[Delivery, float]], *, late_after: Sequence[float | None] | None = None
    ) -> list[BaseException | None]:
        """Send a claimed batch concurrently on the bot's loop (BatchSender): chats in parallel, each chat's
        messages in order, each after its rate-limit delay; per item None or the channel error."""

        async def one(delivery: Delivery, delay: float) -> None:
            if delay > 0:
                await asyncio.sleep(delay)
            lang = str(delivery.payload.get("lang") or "zh")
            with telegram_errors():
                for message in delivery_messages(delivery):
                    await send_outbound(self.bot, delivery.recipient, message, lang)

        if not items:
            return []
        called = time.monotonic()
        try:
            with telegram_errors():
                self._ensure_ready()
        except TransientChannelError as exc:
            return [exc] * len(items)

        async def batch() -> list[BaseException | None]:
            # The delays count from this call: the bot's start-up and the hop to its loop are part of the wait,
            # or a batch would go out late onto the slots booked for the next one (the channel-wide limit).
            return await send_in_chat_order(items, one, late_after=late_after, started=since_loop_time(called))

        results: list[BaseException | None] = asyncio.run_coroutine_threadsafe(batch(), self._loop).result()
        return results

    def close(self) -> None:
        """Shut the bot down and stop the loop thread."""
        try:
            if self._starting is not None:
                self._starting.cancel()  # a getMe still on its way
            self._run(self.bot.shutdown())  # a no-op unless getMe answered
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

"""The first-delivery claim: one answer per platform message id, however often the platform delivers it."""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.usecases.channels import delivery_seen


class FirstDelivery:
    """Lets through only the first delivery of a platform message id.

    "Seen before" has one source: the InboundMessage record the chatbot writes in the turn's own commit
    (read through backend.usecases.channels.delivery_seen). What this process is answering right now is not
    recorded yet: a copy arriving meanwhile gets that work to wait for (`running`) instead of a turn of its own.
    """

    def __init__(
        self, session_factory: sessionmaker[Session], channel: str, *, executor: Executor | None = None
    ) -> None:
        self.session_factory = session_factory
        self.channel = channel
        self.executor = executor  # where the database lookup runs (None: the event loop's default threads)
        self._in_flight: dict[str, asyncio.Future[None]] = {}
        self._following: set[str] = set()

    def running(self, key: str) -> asyncio.Future[None] | None:
        """The work on key's first delivery if this process is still on it: done once that work is."""
        return self._in_flight.get(key)

    async def claim(self, key: str) -> bool:
        """True for the first delivery of key; then call `release` (or `follow`) when done with it."""
        if key in self._in_flight:
            return False
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._in_flight[key] = done
        done.add_done_callback(lambda _: self._forget(key, done))
        try:
            seen = await loop.run_in_executor(self.executor, delivery_seen, self.session_factory, self.channel, key)
        except BaseException:
            self.release(key)  # or the platform's redelivery would wait for a claim nobody holds
            raise
        if seen:
            self.release(key)
        return not seen

    def follow(self, key: str, work: asyncio.Future[Any]) -> None:
        """Let key's claim end with `work` (its chat turn) rather than with the request that started it."""
        done = self._in_flight.get(key)
        if done is None:
            return
        self._following.add(key)

        def settle(finished: asyncio.Future[Any]) -> None:
            if done.done():
                return
            if finished.cancelled():
                done.cancel()
            elif (error := finished.exception()) is not None:
                done.set_exception(error)
                done.exception()  # retrieved here: a copy may wait for it, or none may
            else:
                done.set_result(None)

        work.add_done_callback(settle)

    def release(self, key: str) -> None:
        """End key's claim, unless it follows a chat turn (which then ends it)."""
        done = self._in_flight.get(key)
        if done is not None and key not in self._following and not done.done():
            done.set_result(None)

    def _forget(self, key: str, done: asyncio.Future[None]) -> None:
        if self._in_flight.get(key) is done:
            del self._in_flight[key]
            self._following.discard(key)

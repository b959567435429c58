"""A batch sender for the Bot API: one event loop thread, kept-alive HTTP/1.1 connections, no thread per message.

`TelegramHttpSender` sends one message per call on a worker's send thread; on a small machine its CPU per
message (httpcore, a thread switch per request) is what limits the outbox. This sender takes a whole claimed
batch (`send_many`): the requests go out concurrently from one asyncio event loop (uvloop when installed) over
at most `max_connections` persistent connections, the responses are parsed by httptools, and the results come
back in the batch's order. One chat's messages go out in order, one at a time. Each item carries the delay
the rate limiter booked for it, so the limits stay exact. The error mapping is the one of `raise_for_telegram`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from typing import Any
from urllib.parse import urlsplit

import httptools

from backend.workers.channels import Delivery, HeldBackError, TransientChannelError
from bot.telegram.http_sender import plain_text, raise_for_telegram
from bot.telegram.send_by import sending_by

logger = logging.getLogger(__name__)


class _Connection(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection: one request at a time, the response parsed by httptools."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.close()
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(ConnectionError(f"bad response: {exc}"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.body = []

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if not self.parser.should_keep_alive():
            self.close()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.parser.get_status_code(), b"".join(self.body)))

    def request(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class TelegramBatchSender:
    """Sends deliveries as sendMessage calls to <api_base><token>/sendMessage, a batch at a time."""

    def __init__(
        self,
        api_base: str,
        token: str,
        *,
        render: Callable[[Delivery], str] = plain_text,
        timeout: float = 10.0,
        max_connections: int = 32,
    ) -> None:
        url = urlsplit(f"{api_base}{token}/sendMessage")
        self.host = url.hostname or "127.0.0.1"
        self.tls = url.scheme == "https"
        self.port = url.port or (443 if self.tls else 80)
        host_header = url.netloc.rsplit("@", 1)[-1]
        self.head = (
            f"POST {url.path} HTTP/1.1\r\nHost: {host_header}\r\nContent-Type: application/json\r\n"
            "Connection: keep-alive\r\nContent-Length: "
        ).encode()
        self.render = render
        self.timeout = timeout
        self.max_connections = max_connections
        self._idle: deque[_Connection] = deque()
        self._open = 0
        self._slot: asyncio.Condition | None = None
        self._ssl = ssl.create_default_context() if self.tls else None
        self._loop = _new_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="telegram-batch-sender", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Close the connections and stop the event loop thread."""
        if not self._loop.is_running():
            return

        async def shut() -> None:
            while self._idle:
                self._idle.popleft().close()

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def send(self, delivery: Delivery) -> None:
        """Send one message (the Sender protocol); raise the channel error on failure."""
        error = self.send_many([(delivery, 0.0)])[0]
        if error is not None:
            raise error

    def send_many(
        self, items: Sequence[tuple[Delivery, float]], *, late_after: Sequence[float | None] | None = None
    ) -> list[BaseException | None]:
        """Send (delivery, delay in seconds) items concurrently (BatchSender); per item None (sent) or the error
        it raised."""
        if not items:
            return []
        called = time.monotonic()
        future: Future[list[BaseException | None]] = asyncio.run_coroutine_threadsafe(
            self._send_all(items, called, late_after), self._loop
        )
        return future.result()

    async def _send_all(
        self, items: Sequence[tuple[Delivery, float]], called: float, late_after: Sequence[float | None] | None
    ) -> list[BaseException | None]:
        if self._slot is None:
            self._slot = asyncio.Condition()
        started = since_loop_time(called)
        return await send_in_chat_order(items, self._send_one, late_after=late_after, started=started)

    async def _send_one(self, delivery: Delivery, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        body: dict[str, Any] = {"chat_id": delivery.recipient, "text": self.render(delivery)}
        markup = delivery.payload.get("reply_markup")
        if markup:
            body["reply_markup"] = markup
        payload = json.dumps(body, ensure_ascii=False).encode()
        data = self.head + str(len(payload)).encode() + b"\r\n\r\n" + payload
        conn = await self._acquire()
        try:
            status, content = await asyncio.wait_for(conn.request(data), self.timeout)
        except TimeoutError as exc:
            conn.close()
            raise TransientChannelError("telegram timeout: ReadTimeout") from exc
        except ConnectionError as exc:
            conn.close()
            raise TransientChannelError(f"telegram transport error: {exc}") from exc
        finally:
            await self._release(conn)
        raise_for_telegram(status, content)

    async def _acquire(self) -> _Connection:
        assert self._slot is not None
        async with self._slot:
            while True:
                while self._idle:
                    conn = self._idle.pop()
                    if not conn.closed:
                        return conn
                    self._open -= 1
                if self._open < self.max_connections:
                    self._open += 1
                    break
                await self._slot.wait()
        try:
            _, conn = await asyncio.wait_for(
                asyncio.get_running_loop().create_connection(_Connection, self.host, self.port, ssl=self._ssl),
                self.timeout,
            )
        except (OSError, TimeoutError) as exc:
            async with self._slot:
                self._open -= 1
                self._slot.notify()
            raise TransientChannelError(f"telegram transport error: {type(exc).__name__}") from exc
        return conn

    async def _release(self, conn: _Connection) -> None:
        assert self._slot is not None
        async with self._slot:
            if conn.closed:
                self._open -= 1
            else:
                self._idle.append(conn)
            self._slot.notify()


async def send_in_chat_order(
    items: Sequence[tuple[Delivery, float]],
    send_one: Callable[[Delivery, float], Awaitable[None]],
    *,
    late_after: Sequence[float | None] | None = None,
    started: float | None = None,
) -> list[BaseException | None]:
    """Run send_one over a batch: chats concurrently, each chat's items in order, each at its delay from
    `started` (the loop's time; now by default) and never closer to the chat's previous one than their delays
    are apart. An item that cannot start within its `late_after` of that time (the loop was busy) is answered
    HeldBackError unsent, and so are its chat's later items: sent later it would land on slots booked since.
    After flood control (a TransientChannelError with retry_after) the chat's remaining items are held back."""
    by_chat: dict[str, list[int]] = {}
    for index, (delivery, _) in enumerate(items):
        by_chat.setdefault(delivery.recipient, []).append(index)
    results: list[BaseException | None] = [None] * len(items)
    loop = asyncio.get_running_loop()
    start = loop.time() if started is None else started

    async def chat(indexes: list[int]) -> None:
        held: HeldBackError | None = None
        previous: tuple[float, float] | None = None  # the chat's last item: its delay, when its send ended
        for index in indexes:
            delivery, delay = items[index]
            if held is not None:
                results[index] = held
                continue
            # A send that ended late does not bring the chat's next one nearer to it than booked: the platform
            # counts a chat's messages as they arrive.
            slot = start + delay
            at = slot if previous is None else max(slot, previous[1] + delay - previous[0])
            while (left := at - loop.time()) > 0:
                await asyncio.sleep(left)
            # Late by the loop, not by the chat's own pace (a slow send before it, which keeps the chat's gap).
            allowed = late_after[index] if late_after is not None else None
            if allowed is not None and loop.time() - at > allowed:
                results[index] = held = HeldBackError("held back: too late for its rate-limit slot", retry_after=0.0)
                continue
            try:
                with sending_by(None if allowed is None else at + allowed):
                    await send_one(delivery, 0.0)
            except HeldBackError as exc:  # it could not start in time after all (SlotMissed)
                results[index] = held = exc
                continue
            except Exception as exc:  # every error goes back to the worker, which classifies it
                results[index] = exc
                if isinstance(exc, TransientChannelError) and exc.retry_after:
                    held = HeldBackError("held back: flood control on this chat", retry_after=exc.retry_after)
            previous = (delay, loop.time())

    await asyncio.gather(*(chat(indexes) for indexes in by_chat.values()))
    return results


def since_loop_time(monotonic: float) -> float:
    """A time.monotonic() instant on the running loop's clock: the delays count from the call, so the hop to
    the loop is part of the wait, not added to it."""
    return asyncio.get_running_loop().time() - (time.monotonic() - monotonic)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()

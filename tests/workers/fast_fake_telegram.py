"""A fast fake Bot API for the benchmark: asyncio (uvloop) + httptools in a process of its own.

It answers sendMessage (a JSON body, or form fields as PTB sends them) and getMe like FakeTelegram but keeps
no scripts: it only counts deliveries and keeps the
texts and each message's chat and arrival time (time.monotonic(), one clock for every process on the
machine), so the benchmark measures the outbox rather than Python's http.server. Use `FastFakeProcess`.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import time
import urllib.parse
from multiprocessing.connection import Connection
from typing import Any

import httptools
import uvloop


class _Protocol(asyncio.Protocol):
    def __init__(self, texts: list[str], arrivals: list[tuple[str, float]], counter: Any) -> None:
        self.texts = texts
        self.arrivals = arrivals
        self.counter = counter
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.body: list[bytes] = []
        self.url = b""
        self.form = False
        self.next_id = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_message_begin(self) -> None:
        self.body, self.url, self.form = [], b"", False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-type":
            self.form = value.startswith(b"application/x-www-form-urlencoded")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.url.endswith(b"/getMe"):
            self._answer({"id": 1, "is_bot": True, "first_name": "bench", "username": "bench_bot"})
            return
        raw = b"".join(self.body)
        params = dict(urllib.parse.parse_qsl(raw.decode())) if self.form else json.loads(raw or b"{}")
        text = params.get("text", "")
        self.texts.append(text)
        self.arrivals.append((str(params.get("chat_id")), time.monotonic()))
        with self.counter.get_lock():
            self.counter.value += 1
        self.next_id += 1
        chat = {"id": params.get("chat_id"), "type": "private"}
        self._answer({"message_id": self.next_id, "date": int(time.time()), "chat": chat, "text": text})

    def _answer(self, result: dict[str, Any]) -> None:
        payload = json.dumps({"ok": True, "result": result}).encode()
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(payload)).encode()
            + b"\r\n\r\n"
        )
        assert self.transport is not None
        self.transport.write(head + payload)


def _serve(conn: Connection, counter: Any) -> None:
    texts: list[str] = []
    arrivals: list[tuple[str, float]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Protocol(texts, arrivals, counter), "127.0.0.1", 0)
        conn.send(server.sockets[0].getsockname()[1])
        await loop.run_in_executor(None, conn.recv)  # wait for "stop"
        server.close()

    uvloop.run(main())
    conn.send((texts, arrivals))


class FastFakeProcess:
    """Start the fast fake in a child process; `delivered` counts messages; stop() returns their texts and
    leaves (chat id, arrival time) of each in `arrivals`."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.counter = ctx.Value("q", 0)
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, self.counter), daemon=True)
        self.arrivals: list[tuple[str, float]] = []

    def start(self) -> FastFakeProcess:
        self.process.start()
        port = self._conn.recv()
        self.base_url = f"http://127.0.0.1:{port}/bot"
        return self

    @property
    def delivered(self) -> int:
        return int(self.counter.value)

    def stop(self) -> list[str]:
        self._conn.send("stop")
        texts: list[str]
        texts, self.arrivals = self._conn.recv()
        self.process.join(timeout=10)
        return texts

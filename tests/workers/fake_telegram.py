"""A fake Telegram Bot API: a real HTTP/1.1 server on 127.0.0.1:0 in a thread, recording every call.

It can be told to answer a chat's next messages with 429 (retry_after), 500, a timeout (it answers
late, after the client gave up) or 403 "bot was blocked by the user".
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.parse
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BOT_USER = {"id": 999000, "is_bot": True, "first_name": "TestBot", "username": "test_bot"}


@dataclass(frozen=True)
class Call:
    """One request the fake received."""

    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when it arrived
    status: int


@dataclass(frozen=True)
class Failure:
    """A scripted bad answer: status 429/500/403, or a timeout (an answer `delay` seconds late)."""

    status: int
    retry_after: int | None = None
    delay: float = 0.0
    description: str = ""

    @classmethod
    def flood(cls, retry_after: int) -> Failure:
        return cls(429, retry_after, description=f"Too Many Requests: retry after {retry_after}")

    @classmethod
    def server_error(cls) -> Failure:
        return cls(500, description="Internal Server Error")

    @classmethod
    def timeout(cls, delay: float) -> Failure:
        return cls(200, delay=delay)

    @classmethod
    def blocked(cls) -> Failure:
        return cls(403, description="Forbidden: bot was blocked by the user")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API and httpx's pool expect
    server_version = "FakeBotAPI/0.2"
    disable_nagle_algorithm = True  # headers and body go in two writes; Nagle would add ~40 ms to each reply

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _params(self) -> dict[str, Any] | None:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if len(body) < n:
            return None  # the client died mid-request (a killed worker): nothing was delivered
        raw = body.decode()
        if "json" in self.headers.get("Content-Type", ""):
            return dict(json.loads(raw or "{}"))
        params: dict[str, Any] = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
        for k, v in list(params.items()):
            if v[:1] in "{[":
                params[k] = json.loads(v)
        return params

    def do_POST(self) -> None:
        method = urllib.parse.urlparse(self.path).path.rsplit("/", 1)[-1]
        params = self._params()
        if params is None:
            self.close_connection = True
            return
        fake: FakeTelegram = self.server.fake  # type: ignore[attr-defined]
        arrived = time.monotonic()
        status, body, late = fake.answer(method, params)
        # Recorded on arrival: a test that has its notification delivered may look before a late answer is out.
        fake.record(Call(method, params, arrived, status))
        time.sleep(late)
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and hung up, as intended by a scripted timeout

    do_GET = do_POST


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0  # accepted so far

    def get_request(self) -> tuple[Any, Any]:
        request = super().get_request()
        self.connections += 1  # only the serving thread accepts
        return request

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A killed worker resets its connections; that is the test working, not a server error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeTelegram:
    """The fake server; use as a context manager or start()/stop()."""

    def __init__(self) -> None:
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.fake = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._scripts: dict[str, deque[Failure]] = defaultdict(deque)
        self._next_id = 5000
        self._delivered = 0
        self.get_me_seconds = 0.0  # how late getMe is answered (a far or busy Bot API)

    @property
    def base_url(self) -> str:
        """What goes before the token: <base_url><token>/sendMessage."""
        return self.url + "/bot"

    def start(self) -> FakeTelegram:
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="fake-telegram"
        ).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, chat_id: str | int, *failures: Failure) -> None:
        """Answer this chat's next sendMessage calls with these failures, in order, then normally."""
        with self._lock:
            self._scripts[str(chat_id)].extend(failures)

    def record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)
            if call.method == "sendMessage" and call.status == 200:
                self._delivered += 1

    @property
    def connections(self) -> int:
        """How many connections clients have opened to the fake."""
        return self.httpd.connections

    @property
    def delivered_count(self) -> int:
        """How many sendMessage calls were answered 200 (cheap, for polling)."""
        return self._delivered

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def sent(self, chat_id: str | int | None = None) -> list[Call]:
        """sendMessage calls (optionally to one chat) in arrival order, whatever the answer."""
        return [
            c
            for c in self.calls
            if c.method == "sendMessage" and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
        ]

    def delivered(self) -> list[Call]:
        """sendMessage calls answered 200 promptly (a scripted timeout's late answer is not a delivery)."""
        return [c for c in self.sent() if c.status == 200]

    def answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        """The status and body of a call, and how many seconds late they go out."""
        if method == "getMe":
            return 200, {"ok": True, "result": BOT_USER}, self.get_me_seconds
        if method != "sendMessage":
            return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}, 0.0
        chat = str(params.get("chat_id", ""))
        with self._lock:
            script = self._scripts.get(chat)
            failure = script.popleft() if script else None
            self._next_id += 1
            message_id = self._next_id
        if failure is not None and failure.delay:
            return 504, {"ok": False, "error_code": 504, "description": "answered too late"}, failure.delay
        if failure is not None:
            body: dict[str, Any] = {"ok": False, "error_code": failure.status, "description": failure.description}
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return failure.status, body, 0.0
        chat_id: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private"},
            "text": params.get("text", ""),
        }
        return 200, {"ok": True, "result": message}, 0.0

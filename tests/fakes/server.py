"""A real HTTP server on 127.0.0.1:0 in a thread, recording every request, for the fake platform APIs."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass
class Call:
    """One request the fake received."""

    method: str  # GET | POST
    path: str  # without the query string
    query: dict[str, str]
    body: bytes
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Answer:
    """What the fake sends back."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay: float = 0.0

    @classmethod
    def json(cls, obj: Any, status: int = 200, delay: float = 0.0) -> Answer:
        """A JSON answer."""
        return cls(status, json.dumps(obj, ensure_ascii=False).encode(), "application/json", delay)


class FakeServer:
    """Serve `self.route(call) -> Answer` over HTTP; record calls; run with `with` or start()/stop()."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urllib.parse.urlsplit(self.path)
                query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
                call = Call(self.command, parts.path, query, body, {k.lower(): v for k, v in self.headers.items()})
                with owner._lock:
                    owner.calls.append(call)
                answer = owner.route(call)
                if answer.delay:
                    time.sleep(answer.delay)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = _serve
            do_POST = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self._thread: threading.Thread | None = None

    def route(self, call: Call) -> Answer:
        """Answer one call (subclasses override)."""
        return Answer.json({"error": "not found"}, status=404)

    def start(self) -> Self:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def calls_to(self, path_suffix: str) -> list[Call]:
        """The recorded calls whose path ends with path_suffix."""
        with self._lock:
            return [c for c in self.calls if c.path.endswith(path_suffix)]


class Script:
    """Queued one-off answers per path suffix, consumed before the normal behaviour."""

    def __init__(self) -> None:
        self._queued: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()

    def push(self, path_suffix: str, *answers: Answer) -> None:
        """Answer the next calls to path_suffix with these answers, in order."""
        with self._lock:
            self._queued.setdefault(path_suffix, []).extend(answers)

    def pop(self, path: str) -> Answer | None:
        """The next queued answer for a path, if any."""
        with self._lock:
            for suffix, answers in self._queued.items():
                if path.endswith(suffix) and answers:
                    return answers.pop(0)
        return None

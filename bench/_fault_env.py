"""The world of the fault run (bench/faults.py): fake platforms that can go down and come back on the same
port, the API and the outbox worker as killable process groups, and PostgreSQL restarts."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import httpx

from bench.webhook import TG_SECRET, TG_TOKEN, TOKEN
from tests.fakes.server import Answer, Call
from tests.fakes.telegram import FakeTelegramAPI
from tests.fakes.wechat import FakeWeChatAPI

ROOT = Path(__file__).resolve().parent.parent
WECHAT_APP_ID = "wxfaults000000000"


@dataclass(frozen=True)
class Said:
    """One message the bot sent a resident: a passive WeChat reply or a call the outbox worker made."""

    channel: str
    user: str
    text: str
    buttons: tuple[tuple[str, str], ...] = ()  # (label, data)
    via: str = "outbox"  # passive | outbox


class Switchable:
    """Mixin for a FakeServer: go down (new connections refused, kept-alive ones answered 502) and come back
    on the same port; every successfully answered call is kept in `delivered`."""

    httpd: ThreadingHTTPServer
    down: bool
    delivered: list[Call]
    answered_down: int

    def _init_switch(self) -> None:
        self.down = False
        self.delivered = []
        self.answered_down = 0
        self.port = self.httpd.server_address[1]

    def route(self, call: Call) -> Answer:
        if self.down:
            self.answered_down += 1
            return Answer.json({"ok": False, "description": "platform down"}, status=502)
        answer: Answer = super().route(call)  # type: ignore[misc]
        if answer.status == 200:
            self.delivered.append(call)  # list.append is atomic under the GIL
        return answer

    def take_down(self) -> None:
        """Stop listening; connections already open get 502 until bring_up()."""
        self.down = True
        self.httpd.shutdown()
        self.httpd.server_close()

    def bring_up(self) -> None:
        """Listen again on the same port."""
        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self.httpd.RequestHandlerClass)
        httpd.daemon_threads = True
        self.httpd = httpd
        self.start()  # type: ignore[attr-defined]
        self.down = False


class FaultyTelegram(Switchable, FakeTelegramAPI):
    """The fake Bot API, switchable."""

    def __init__(self) -> None:
        super().__init__()
        self._init_switch()

    def said(self, call: Call) -> Said | None:
        """A sendMessage call as what the resident reads."""
        if self.method_of(call) != "sendMessage":
            return None
        params = self.params(call)
        markup = params.get("reply_markup") or {}
        buttons = tuple(
            (str(b.get("text", "")), str(b.get("callback_data", "")))
            for row in markup.get("inline_keyboard", [])
            for b in row
        )
        return Said("telegram", str(params.get("chat_id")), str(params.get("text", "")), buttons)


class FaultyWeChat(Switchable, FakeWeChatAPI):
    """The fake WeChat API, switchable."""

    def __init__(self) -> None:
        super().__init__()
        self._init_switch()

    def said(self, call: Call) -> Said | None:
        """A customer-service message (text or msgmenu) as what the resident reads."""
        if call.method != "POST" or not call.path.endswith("/message/custom/send"):
            return None
        body = call.json()
        if body.get("msgtype") == "text":
            return Said("wechat", body["touser"], body["text"]["content"])
        if body.get("msgtype") == "msgmenu":
            menu = body["msgmenu"]
            return Said(
                "wechat",
                body["touser"],
                menu.get("head_content", ""),
                tuple((i["content"], i["id"]) for i in menu.get("list", [])),
            )
        return None


def service_env(url: str, workdir: Path, wechat: FaultyWeChat, telegram: FaultyTelegram) -> dict[str, str]:
    """GRIDBOT_ settings for the API and the worker: WeChat, WeCom (staff notices) and Telegram pointed at the
    fakes (WeCom shares the fake WeChat API), no template fallback."""
    return {
        **os.environ,
        "GRIDBOT_DATABASE_URL": url,
        "GRIDBOT_DATA_DIR": str(workdir / "var"),
        "GRIDBOT_ENV": "development",
        "GRIDBOT_LOG_LEVEL": "WARNING",
        "GRIDBOT_WECHAT_TOKEN": TOKEN,
        "GRIDBOT_WECHAT_AES_KEY": "",
        "GRIDBOT_WECHAT_APP_ID": WECHAT_APP_ID,
        "GRIDBOT_WECHAT_APP_SECRET": "faults-secret",
        "GRIDBOT_WECHAT_API_BASE": wechat.api_base,
        "GRIDBOT_WECHAT_TEMPLATE_ID": "",
        "GRIDBOT_WECOM_AES_KEY": "",
        "GRIDBOT_WECOM_SECRET": "faults-secret",
        "GRIDBOT_WECOM_API_BASE": wechat.api_base,
        "GRIDBOT_TELEGRAM_TOKEN": TG_TOKEN,
        "GRIDBOT_TELEGRAM_SECRET": TG_SECRET,
        "GRIDBOT_TELEGRAM_API_BASE": telegram.base_url,
    }


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    """Whether a listener could bind the port (SO_REUSEADDR, as uvicorn binds)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class Service:
    """A child process in a session of its own, so that kill -9 reaches every process it forked."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    starts: int = 0
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start (again), appending to the same log."""
        self._log = self._log or self.log_path.open("ab")
        self.starts += 1
        self._log.write(f"\n=== start {self.starts} at {time.strftime('%H:%M:%S')} ===\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def signal_group(self, sig: int) -> None:
        """Send sig to the whole process group."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """kill -9 every process of the service."""
        self.signal_group(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after timeout."""
        if self.proc is None or self.proc.poll() is not None:
            self.signal_group(signal.SIGKILL)
            return
        self.signal_group(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.signal_group(signal.SIGKILL)  # children that outlived their parent

    def close(self) -> None:
        """Close the log."""
        if self._log is not None:
            self._log.close()


def api_service(env: dict[str, str], port: int, workers: int, workdir: Path) -> Service:
    """uvicorn with the bot.app factory and `workers` worker processes."""
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "bot.app:build_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return Service("api", argv, env, workdir / "api.log")


def worker_service(env: dict[str, str], workdir: Path) -> Service:
    """One `gridbot worker` process."""
    return Service("worker", [str(Path(sys.executable).with_name("gridbot")), "worker"], env, workdir / "worker.log")


def wait_healthy(base: str, service: Service, timeout: float = 180.0) -> float:
    """Seconds until GET /health answers 200; raises if the process dies or time runs out."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if service.proc is not None and service.proc.poll() is not None:
            raise RuntimeError(f"{service.name} exited during start-up (see {service.log_path})")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{service.name} did not come up in {timeout:.0f}s")


def wait_port_free(port: int, timeout: float = 30.0) -> None:
    """Wait until nothing listens on port (a killed uvicorn's sockets are gone)."""
    deadline = time.monotonic() + timeout
    while not port_free(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {port} still taken {timeout:.0f}s after the kill")
        time.sleep(0.1)


def pg_cluster(port: int) -> tuple[str, str]:
    """(version, name) of the local PostgreSQL cluster listening on port (pg_lsclusters)."""
    out = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == str(port):
            return parts[0], parts[1]
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    raise RuntimeError(f"no local cluster on port {port} (versions in /etc/postgresql: {versions})")


def restart_postgres(version: str, cluster: str) -> dict[str, Any]:
    """pg_ctlcluster <version> <cluster> restart (we run as root; it switches to the cluster's owner)."""
    started = time.monotonic()
    done = subprocess.run(["pg_ctlcluster", version, cluster, "restart"], capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"pg_ctlcluster failed ({done.returncode}): {done.stderr.strip()[:300]}")
    return {"took_s": took}

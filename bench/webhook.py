"""Webhook throughput: simulated residents post signed WeChat XML reports and Telegram updates to the real
app under uvicorn; reports/s and request-to-reply latency, on SQLite and on PostgreSQL.

    python -m bench.webhook [--json] [--requests 2000] [--concurrency 100] [--workers 2] [--backends sqlite,postgresql]

PostgreSQL: GRIDBOT_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test) names the
server; the benchmark creates and uses its own database `gridbot_bench` there.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench._report import report

TOKEN = "bench-wechat-token"
TG_TOKEN = "123456:BENCH"
TG_SECRET = "bench-telegram-secret"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DB = "gridbot_bench"
REPORTS = [
    "怡和花园门口的垃圾好几天没人清运了，臭得不行",
    "星河公寓3号楼楼道的灯坏了一个星期了",
    "建设路上有个井盖丢了，晚上很危险",
    "和谐家园小区里有人私搭乱建，占了消防通道",
    "天伦小区门口有人占道经营，堵得走不动",
    "纺织厂家属院的下水道堵了，污水漫到路上",
    "金水湾公寓楼下的路灯不亮了",
    "建业新城小区里有辆僵尸车停了半年了",
    "春华嘉园门口的人行道砖松动了好几块",
    "供电局宿舍楼顶的广告牌摇摇欲坠",
]


def make_app():  # type: ignore[no-untyped-def]
    """The uvicorn factory `gridbot serve` uses (bot.app.serve_app)."""
    from bot.app import serve_app

    return serve_app()


def wechat_request(i: int, token: str = TOKEN) -> tuple[dict[str, str], bytes]:
    """A plain-mode text report from resident i, signed with the account's token."""
    ts, nonce = str(int(time.time())), str(100000 + i)
    signature = hashlib.sha1("".join(sorted((token, ts, nonce))).encode()).hexdigest()
    text = REPORTS[i % len(REPORTS)]
    xml = (
        f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[obench{i}]]></FromUserName>"
        f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{10_000_000 + i}</MsgId></xml>"
    )
    return {"signature": signature, "timestamp": ts, "nonce": nonce, "openid": f"obench{i}"}, xml.encode()


def telegram_update(i: int) -> dict[str, Any]:
    """A Telegram text report from resident i."""
    user = {"id": 500000 + i, "is_bot": False, "first_name": "居民", "language_code": "zh-hans"}
    return {
        "update_id": 700000 + i,
        "message": {
            "message_id": i,
            "date": int(time.time()),
            "from": user,
            "chat": {"id": 500000 + i, "type": "private"},
            "text": REPORTS[i % len(REPORTS)],
        },
    }


@dataclass
class Run:
    """Latencies of one load run."""

    wall: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"wechat": [], "telegram": []})
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)  # HTTP status or exception name → count
    replied: int = 0  # WeChat requests answered with a passive reply
    deferred: int = 0  # WeChat requests answered "success" (reply later through the outbox)
    # Each acknowledged message: (user id as the platform API sees it, scheduled send, passive reply's arrival or
    # None), on time.monotonic(), the clock of the fake platforms' records (bench/_loadgen.py Delivered.at).
    sent: list[tuple[str, float, float | None]] = field(default_factory=list)

    def all(self) -> list[float]:
        return self.latencies["wechat"] + self.latencies["telegram"]


async def load(
    base: str,
    total: int,
    concurrency: int,
    telegram_share: float,
    offset: int,
    rate: float | None = None,
    *,
    token: str = TOKEN,
    telegram_secret: str = TG_SECRET,
) -> Run:
    """Post `total` reports with `concurrency` simulated residents at once: each sends its next report as soon
    as the last is answered or, with `rate`, report n at n / rate seconds after the start (an open schedule,
    the latency counted from that time, so a server falling behind is not hidden by senders that wait).

    The client is aiohttp: httpx's pool cost this machine about 7.6 ms of CPU per request at 200 senders
    (aiohttp 0.45 ms), so the load generator, not the server, used most of the two cores.
    """
    run = Run()
    counter = iter(range(total))
    every = max(1, round(1 / telegram_share)) if telegram_share else 0
    telegram_headers = {"X-Telegram-Bot-Api-Secret-Token": telegram_secret, "Content-Type": "application/json"}

    async def resident(client: aiohttp.ClientSession) -> None:
        for n in counter:
            i = offset + n
            channel = "telegram" if every and n % every == 0 else "wechat"
            started = time.monotonic()
            if rate:
                started = begun + n / rate
                await asyncio.sleep(max(0.0, started - time.monotonic()))
            try:
                if channel == "telegram":
                    update = json.dumps(telegram_update(i))
                    async with client.post("/telegram/webhook", data=update, headers=telegram_headers) as r:
                        await r.read()
                        ok, kind = r.status == 200, str(r.status)
                    user, passive = str(500000 + i), None
                else:
                    params, body = wechat_request(i, token)
                    async with client.post("/wechat", params=params, data=body) as r:
                        text = await r.text()
                        ok, kind = r.status == 200, str(r.status)
                    run.replied += int(ok and "<Content>" in text)
                    run.deferred += int(ok and text == "success")
                    user, passive = f"obench{i}", (time.monotonic() if "<Content>" in text else None)
            except (aiohttp.ClientError, TimeoutError) as exc:
                ok, kind = False, type(exc).__name__
            if ok:
                run.latencies[channel].append(time.monotonic() - started)
                run.sent.append((user, started, passive))
            else:
                run.errors += 1
                run.error_kinds[f"{channel} {kind}"] += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as client:
        begun = time.monotonic()
        await asyncio.gather(*(resident(client) for _ in range(concurrency)))
        run.wall = time.monotonic() - begun
    return run


def prepare_database(url: str, workdir: Path) -> None:
    """Migrate and load the demo city into a fresh database (on PostgreSQL: re-created, named by the URL)."""
    from sqlalchemy.orm import Session

    from backend.cityconfig import load_city_config
    from backend.db.migrate import upgrade
    from backend.db.session import make_engine
    from backend.services.reference import sync_reference, sync_staff
    from backend.settings import PROJECT_ROOT

    if url.startswith("postgresql"):
        import psycopg

        server, name = url.rsplit("/", 1)
        with psycopg.connect(server + "/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
    upgrade(url)
    engine = make_engine(url)
    city = load_city_config(PROJECT_ROOT / "config")
    with Session(engine) as session:
        sync_reference(session, city)
        sync_staff(session, city, demo_password=None)
        session.commit()
    engine.dispose()


def engine_turn_ms(url: str, workdir: Path, turns: int) -> float:
    """The mean time of one engine turn called directly (one thread, no HTTP): the adapters' floor."""
    from backend.db.session import make_engine, make_session_factory
    from backend.runtime import build_runtime
    from backend.settings import Settings
    from bot.chatbot import Chatbot
    from bot.messages import Inbound, InboundKind

    settings = Settings(database_url=url, data_dir=workdir / "var")
    engine = make_engine(url)
    chatbot = Chatbot(build_runtime(settings), make_session_factory(engine))

    def turn(i: int) -> None:
        chatbot.handle_once(
            Inbound("wechat", f"oturn{i}", InboundKind.text, text=REPORTS[i % len(REPORTS)], message_id=f"turn-{i}")
        )

    for i in range(10):
        turn(i)
    started = time.perf_counter()
    for i in range(10, 10 + turns):
        turn(i)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed / turns * 1000


def start_server(
    url: str,
    workdir: Path,
    telegram_base: str,
    workers: int,
    *,
    inbox: bool = False,
    nice: int = 0,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn with the app factory in a child process (under `nice -n` when nice > 0); returns it once /health
    answers. `extra_env` adds or overrides settings."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "GRIDBOT_DATABASE_URL": url,
        "GRIDBOT_DATA_DIR": str(workdir / "var"),
        "GRIDBOT_WECHAT_TOKEN": TOKEN,
        "GRIDBOT_WECHAT_AES_KEY": "",
        "GRIDBOT_WECOM_AES_KEY": "",
        "GRIDBOT_TELEGRAM_TOKEN": TG_TOKEN,
        "GRIDBOT_TELEGRAM_SECRET": TG_SECRET,
        "GRIDBOT_TELEGRAM_API_BASE": telegram_base,
        "GRIDBOT_LOG_LEVEL": "WARNING",
        "GRIDBOT_ENV": "development",
        "GRIDBOT_INBOX_ENABLED": "true" if inbox else "false",
        # With the inbox the turns run in a `gridbot process` of their own (started by bench_backend), so they
        # do not hold the API process's interpreter while it acknowledges.
        "GRIDBOT_INBOX_SERVE_PROCESSORS": "0" if inbox else "1",
        # Acknowledgements are what these runs measure: WeChat answers at once instead of waiting, through the
        # database, for the separate processor's passive reply (backend/usecases/passive_replies.py).
        "GRIDBOT_INBOX_REPLY_WAIT_SECONDS": "0" if inbox else "4",
        **(extra_env or {}),
    }
    proc = subprocess.Popen(
        (["nice", "-n", str(nice)] if nice > 0 else [])
        + [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.webhook:make_app",
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
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("uvicorn exited during start-up")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("uvicorn did not come up")


def start_processor(
    url: str, workdir: Path, telegram_base: str, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """One `gridbot process` (the inbox processor) with the server's environment."""
    return _gridbot("process", url, workdir, telegram_base, extra_env)


def start_worker(
    url: str, workdir: Path, telegram_base: str, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """One `gridbot worker` (the outbox) with the server's environment."""
    return _gridbot("worker", url, workdir, telegram_base, extra_env)


def _gridbot(
    command: str, url: str, workdir: Path, telegram_base: str, extra_env: dict[str, str] | None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GRIDBOT_DATABASE_URL": url,
        "GRIDBOT_DATA_DIR": str(workdir / "var"),
        "GRIDBOT_TELEGRAM_TOKEN": TG_TOKEN,
        "GRIDBOT_TELEGRAM_SECRET": TG_SECRET,
        "GRIDBOT_TELEGRAM_API_BASE": telegram_base,
        "GRIDBOT_LOG_LEVEL": "WARNING",
        "GRIDBOT_ENV": "development",
        "GRIDBOT_INBOX_ENABLED": "true",
        **(extra_env or {}),
    }
    return subprocess.Popen([sys.executable, "-m", "bot.main", command, "--worker-id", f"bench-{command}-1"], env=env)


def pct(values: list[float], q: float) -> float:
    """The q-quantile of values, in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its waited-for and live children (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(c) for c in children.read_text().split()] if children.exists() else []
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total += sum(int(v) for v in fields[11:15]) / ticks  # utime, stime, cutime, cstime
    return total + sum(cpu_seconds(kid) for kid in kids)


def bench_backend(name: str, url: str, args: argparse.Namespace, telegram_base: str) -> dict[str, Any]:
    """Prepare a database, start the server, warm it up, run the load; the figures."""
    workdir = Path(tempfile.mkdtemp(prefix=f"gridbot-bench-{name}-"))
    prepare_database(url, workdir)
    turn_ms = engine_turn_ms(url, workdir, args.turns)
    # SQLite takes one writer at a time: several server processes only add lock contention.
    workers = 1 if name == "sqlite" else args.workers
    proc, base = start_server(url, workdir, telegram_base, workers, inbox=args.inbox, nice=args.serve_nice)
    # --ack-only: the processor starts after the load, so the acknowledgements have the cores to themselves.
    processor = start_processor(url, workdir, telegram_base) if args.inbox and not args.ack_only else None
    drain: dict[str, Any] = {}
    try:
        asyncio.run(load(base, args.warmup, min(args.concurrency, args.warmup), args.telegram_share, 0))
        server_cpu, own_cpu = cpu_seconds(proc.pid), time.process_time()
        run = asyncio.run(load(base, args.requests, args.concurrency, args.telegram_share, args.warmup))
        server_cpu, own_cpu = cpu_seconds(proc.pid) - server_cpu, time.process_time() - own_cpu
        light = asyncio.run(
            load(base, args.light_requests, args.light_concurrency, args.telegram_share, args.warmup + args.requests)
        )
        paced, offset = {}, args.warmup + args.requests + args.light_requests
        for rate in [float(r) for r in args.paced_rates.split(",") if r] if name == "postgresql" else []:
            count = int(rate * args.paced_seconds)
            paced[rate] = asyncio.run(load(base, count, args.concurrency, args.telegram_share, offset, rate=rate))
            offset += count
        if args.inbox:
            if processor is None:
                processor = start_processor(url, workdir, telegram_base)
            drain = inbox_drain(url)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if processor is not None:
            processor.terminate()
            processor.wait(timeout=30)
    done = len(run.all())
    return {
        "backend": name,
        "workers": workers,
        "requests": args.requests,
        "engine_turn_ms": turn_ms,
        "ok": done,
        "errors": run.errors,
        "error_kinds": dict(run.error_kinds),
        "reports_per_s": done / run.wall if run.wall else 0.0,
        "p50_ms": pct(run.all(), 0.50),
        "p99_ms": pct(run.all(), 0.99),
        "wechat_p50_ms": pct(run.latencies["wechat"], 0.50),
        "wechat_p99_ms": pct(run.latencies["wechat"], 0.99),
        "telegram_p50_ms": pct(run.latencies["telegram"], 0.50),
        "telegram_p99_ms": pct(run.latencies["telegram"], 0.99),
        "wechat_passive_replies": run.replied,
        "wechat_deferred": run.deferred,
        "light_reports_per_s": len(light.all()) / light.wall if light.wall else 0.0,
        "light_p50_ms": pct(light.all(), 0.50),
        "light_p99_ms": pct(light.all(), 0.99),
        "paced": {
            rate: {
                "achieved_per_s": len(p.all()) / p.wall if p.wall else 0.0,
                "p50_ms": pct(p.all(), 0.50),
                "p99_ms": pct(p.all(), 0.99),
                "errors": p.errors,
            }
            for rate, p in paced.items()
        },
        "mean_ms": statistics.fmean(run.all()) * 1000 if done else None,
        "server_cpu_ms_per_request": server_cpu * 1000 / done if done else None,
        "server_cores_busy": server_cpu / run.wall if run.wall else None,
        "loadgen_cores_busy": own_cpu / run.wall if run.wall else None,
        **drain,
    }


def inbox_drain(url: str) -> dict[str, Any]:
    """With the inbox on: the backlog when the load stopped and how long the processors took to empty it."""
    from sqlalchemy import func, select

    from backend.db.models import InboxMessage
    from backend.db.session import make_engine, make_session_factory
    from backend.usecases import inbox

    engine = make_engine(url)
    factory = make_session_factory(engine)  # a session per reading: SQLite would keep reading its first snapshot
    started = time.monotonic()
    backlog = left = inbox.backlog(factory)
    while left and time.monotonic() < started + 300:
        time.sleep(0.2)
        left = inbox.backlog(factory, up_to=1)  # only whether one is left: a full count takes the processors' CPU
    drained = time.monotonic() - started
    left = inbox.backlog(factory)
    with engine.connect() as conn:
        done = int(conn.scalar(select(func.count()).where(InboxMessage.status == "done")) or 0)
    engine.dispose()
    return {"inbox_backlog_at_end": backlog, "inbox_drain_s": drained, "inbox_left": left, "inbox_done": done}


def main() -> None:
    """Run the benchmark on each backend and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--turns", type=int, default=100, help="direct engine turns to time")
    parser.add_argument("--light-requests", type=int, default=150, help="requests of the light-load run")
    parser.add_argument("--light-concurrency", type=int, default=4, help="senders of the light-load run")
    parser.add_argument("--telegram-share", type=float, default=0.25)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--inbox",
        action="store_true",
        help="durable inbox on (WeChat and Telegram; turns in one `gridbot process`); written as its own section",
    )
    parser.add_argument(
        "--ack-only",
        action="store_true",
        help="with --inbox: no processor during the load (the acknowledgement path alone), then drain",
    )
    parser.add_argument(
        "--paced-rates",
        default="500,1000",
        help="PostgreSQL only: after the load, runs at these fixed total rates (reports/s) with the same senders",
    )
    parser.add_argument("--paced-seconds", type=float, default=5.0, help="length of each paced run")
    parser.add_argument(
        "--serve-nice",
        type=int,
        default=0,
        help="niceness of the API processes (docs/DEPLOYMENT.md); above 0 the run is written as its own section",
    )
    parser.add_argument("--pg-database", default=BENCH_DB, help="the PostgreSQL database to (re)create and use")
    args = parser.parse_args()
    load_avg = os.getloadavg()[0]

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.fakes.telegram import FakeTelegramAPI

    pg_server = os.environ.get("GRIDBOT_TEST_POSTGRES_URL", PG_DEFAULT)
    urls = {
        "sqlite": f"sqlite:///{Path(tempfile.mkdtemp(prefix='gridbot-bench-')) / 'bench.db'}",
        "postgresql": pg_server.rsplit("/", 1)[0] + "/" + args.pg_database,
    }
    results = []
    with FakeTelegramAPI() as fake:
        for name in args.backends.split(","):
            results.append(bench_backend(name, urls[name], args, fake.base_url))

    rows: list[tuple[str, Any, str]] = []
    for r in results:
        pg = r["backend"] == "postgresql"
        # Issue 16's targets for the inbox (store, acknowledge, then think); the earlier webhook targets otherwise.
        target_rate = ("≥ 1,000 (at least 500)" if args.inbox else "≥ 300") if pg else ""
        target_p99 = ("< 100 ms (at least < 200 ms)" if args.inbox else "< 200 ms") if pg else ""
        rows += [
            (f"{r['backend']}: engine turn alone, 1 thread (ms)", r["engine_turn_ms"], ""),
            (f"{r['backend']}: reports/s", r["reports_per_s"], target_rate),
            (f"{r['backend']}: p50 request→reply (ms)", r["p50_ms"], ""),
            (f"{r['backend']}: p99 request→reply (ms)", r["p99_ms"], target_p99),
            (f"{r['backend']}: WeChat p50 / p99 (ms)", f"{r['wechat_p50_ms']:.0f} / {r['wechat_p99_ms']:.0f}", ""),
            (
                f"{r['backend']}: Telegram p50 / p99 (ms)",
                f"{r['telegram_p50_ms']:.0f} / {r['telegram_p99_ms']:.0f}",
                "",
            ),
            (
                f"{r['backend']}: WeChat passive replies / deferred to outbox",
                f"{r['wechat_passive_replies']} / {r['wechat_deferred']}",
                "",
            ),
            (
                f"{r['backend']}: errors",
                f"{r['errors']}"
                + (f" ({', '.join(f'{k}: {n}' for k, n in r['error_kinds'].items())})" if r["errors"] else ""),
                "0",
            ),
            (
                f"{r['backend']}: server CPU ms per request (uvicorn workers)",
                r["server_cpu_ms_per_request"],
                "",
            ),
            (
                f"{r['backend']}: cores busy during the load: server / load generator",
                f"{r['server_cores_busy']:.2f} / {r['loadgen_cores_busy']:.2f}",
                "",
            ),
            *(
                (
                    f"{r['backend']}: paced at {rate:.0f} reports/s ({args.concurrency} senders): achieved /s, "
                    "p50 / p99 from the scheduled send (ms), errors",
                    f"{q['achieved_per_s']:.0f}, {q['p50_ms']:.0f} / {q['p99_ms']:.0f}, {q['errors']}",
                    ("p99 < 100 ms at 1,000/s (at least < 200 ms at 500/s)" if args.inbox else ""),
                )
                for rate, q in r["paced"].items()
            ),
            (f"{r['backend']}: light load ({args.light_concurrency} senders) reports/s", r["light_reports_per_s"], ""),
            (f"{r['backend']}: light load p50 / p99 (ms)", f"{r['light_p50_ms']:.0f} / {r['light_p99_ms']:.0f}", ""),
        ]
        if args.inbox:
            rows += [
                (f"{r['backend']}: inbox backlog when the load stopped", r["inbox_backlog_at_end"], ""),
                (f"{r['backend']}: seconds to process that backlog", r["inbox_drain_s"], ""),
                (
                    f"{r['backend']}: inbox rows done / left pending",
                    f"{r['inbox_done']} / {r['inbox_left']}",
                    "all / 0",
                ),
            ]
    notes = (
        f"{args.requests} report messages per backend after {args.warmup} warm-up ones, "
        f"{args.concurrency} concurrent senders, {round(args.telegram_share * 100)}% Telegram updates "
        f"(reply queued in the outbox before the webhook returns; the reply time is the webhook round trip), "
        f"the rest signed plain-mode WeChat XML "
        f"(passive reply in the response). uvicorn with {args.workers} worker process(es) on PostgreSQL, 1 on "
        f"SQLite; load generator "
        f"and fake Bot API on the same machine. Each message is a new resident's first report: classify, "
        f"extract the place, check urgency and duplicates, store state; most get a question back. "
        f"'engine turn alone' times Chatbot.handle_once called directly, one thread: at "
        f"{max(r['engine_turn_ms'] for r in results):.0f} ms a report (on the slower backend), one core can "
        f"turn at most {1000 / max(r['engine_turn_ms'] for r in results):.0f} reports/s before HTTP, "
        f"signatures and the database server take their share of the {os.cpu_count()} cores; the "
        f"light-load run shows the request→reply time without queueing. "
        f"Load average when the run started: {load_avg:.1f}."
    )
    if args.inbox:
        meanwhile = (
            "runs the turns only after the load (--ack-only: the acknowledgement path alone has the cores)"
            if args.ack_only
            else "runs the turns meanwhile, on the same cores"
        )
        notes = (
            "Durable inbox on (GRIDBOT_INBOX_ENABLED): the webhooks store the message and answer; one "
            f"`gridbot process` {meanwhile} (GRIDBOT_INBOX_SERVE_PROCESSORS=0 and "
            "GRIDBOT_INBOX_REPLY_WAIT_SECONDS=0, so WeChat answers `success` at once and every reply goes "
            "through the outbox; past the backlog bound "
            "the passive busy notice, counted as a passive reply). "
            "'reports/s' and the latencies are acknowledgements; the backlog rows show the turns still owed. "
        ) + notes
    section, title = (
        (
            "webhook_inbox_ack",
            "Chat webhooks with the durable inbox, acknowledgements alone (bench/webhook --inbox --ack-only)",
        )
        if args.inbox and args.ack_only
        else ("webhook_inbox", "Chat webhooks with the durable inbox (bench/webhook --inbox)")
        if args.inbox
        else ("webhook", "Chat webhooks under load (bench/webhook)")
    )
    if args.serve_nice > 0:
        section, title = f"{section}_nice", f"{title}, the API processes under `nice -n {args.serve_nice}`"
    report(
        section,
        title,
        rows,
        as_json=args.json,
        figures={"runs": results, "concurrency": args.concurrency, "workers": args.workers, "load_average": load_avg},
        notes=notes,
        command=" ".join(["python -m bench.webhook", *sys.argv[1:]]) if args.inbox else "",
    )


if __name__ == "__main__":
    main()

"""Mixed-workload load test of the real service on PostgreSQL, deployed as it would be in production:
`gridbot serve --workers N` (N API processes sharing one port) and M `gridbot worker` processes, one database.

    python -m bench.load [--duration 60] [--api-procs 1] [--workers 1] [--residents 1200] [--staff 20]
                         [--readers 4] [--scale-out] [--json]

For the run's length, at once: residents report problems through the WeChat webhook (signed XML, plain
mode) and the Telegram webhook (secret header), each following the bot's dialogue (location pin, description,
then answering a duplicate or category question) until a ticket exists, one message every --interval seconds
each (under the per-sender chat limit); gridworkers act in WeCom (AES callbacks): list their tasks, open one,
accept it or check in on site; staff read the API (ticket list, a ticket, counts) and the dashboard (queue,
ticket page, statistics, map). Replies, menus and cards reach people through the outbox workers and the fake
platform APIs of tests/fakes. Afterwards the workers get --drain seconds to empty the outbox.

--scale-out runs 1 API process + 1 worker, then 2 + 2, each on a fresh database, and reports them side by
side. --inbox N turns the durable inbox on (the webhooks store and answer; N `gridbot process` processes run
the turns; replies come as WeChat passive replies when a turn finishes in time, else through the outbox) and
writes its own section. --rate-limits sets the outbox workers' send limits: `default` (the platforms' quotas),
`off`, or the JSON of GRIDBOT_WORKER_RATE_LIMITS; the fake platforms enforce none. The report splits the time
to a reply, from the database: inbox wait (a message stored → its turn done) and outbox wait per channel
(a notification queued → its successful send started). PostgreSQL: GRIDBOT_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test) names the server; the run uses its own database `gridbot_load`,
dropped and re-created.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

from backend.settings import PROJECT_ROOT
from bench._loadgen import (
    GridWorker,
    Inbox,
    InboxTelegramAPI,
    InboxWeChatAPI,
    Platform,
    Resident,
    TelegramResident,
    WeChatResident,
    World,
    api_reader,
    dashboard_reader,
)
from bench._report import BENCHMARKS_MD, RELIABILITY_MD, report, write_section
from bench.webhook import PG_DEFAULT, pct, prepare_database

LOAD_DB = "gridbot_load"
PASSWORD = "load-pass-123"
# Who reads the API and the dashboard: the admin, the supervisor, street and community dispatchers.
READERS = ["ADM01", "SUP01", "SD01", "CD01", "SD02", "CD02", "SD03", "CD03", "SD04", "CD04"]
WECOM_CORP_ID, WECOM_AGENT_ID = "wwload0000000001", 1000002
STREAMS = [
    "WeChat residents (webhook)",
    "Telegram residents (webhook)",
    "WeCom staff (webhook)",
    "API reads",
    "Dashboard reads",
    "staff logins",
]
RESIDENT_STREAMS = STREAMS[:2]
WEBHOOK_ROUTES = {"/wechat": STREAMS[0], "/telegram/webhook": STREAMS[1], "/wecom": STREAMS[2]}
RATE_LIMITS_NOTE = {
    "default": "the platforms' quotas (Telegram 30/s per bot, 1/s per chat; WeChat 20/s per account, 1/s per user)",
    "off": "off (GRIDBOT_WORKER_RATE_LIMITS_ENABLED=false; the fake platforms enforce none)",
}
PEOPLE_PER_CLIENT = 16  # people sharing one HTTP client (and its connection pool)


class Service:
    """The processes of one deployment: the API (uvicorn workers under one parent), the outbox workers and
    (durable inbox) the inbox processors."""

    def __init__(
        self, env: dict[str, str], workdir: Path, api_procs: int, workers: int, processors: int = 0, nice: int = 0
    ) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        self.commands: list[str] = []
        for i in range(1, workers + 1):
            self._start(f"worker-{i}", ["worker", "--worker-id", f"load-{i}"], env, workdir)
        for i in range(1, processors + 1):  # with the inbox on in env: these run the turns, the API stores
            self._start(f"process-{i}", ["process", "--worker-id", f"load-p{i}"], env, workdir)
        self._start(
            "api",
            ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(api_procs)],
            env,
            workdir,
            nice=nice,
        )

    def _start(self, name: str, args: list[str], env: dict[str, str], workdir: Path, *, nice: int = 0) -> None:
        gridbot = Path(sys.executable).with_name("gridbot")
        cli = [str(gridbot)] if gridbot.exists() else [sys.executable, "-m", "bot.main"]
        niced = ["nice", "-n", str(nice)] if nice > 0 else []
        log = workdir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*niced, *cli, *args], env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        self.procs.append((name, proc, log))
        self.commands.append(" ".join([*niced, "gridbot", *args]))

    def wait_healthy(self, timeout: float = 180.0) -> None:
        """Return once /health answers 200 and every process is still running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc, log in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited during start-up:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(self.base_url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError("the API did not come up")

    def cpu_seconds(self) -> float:
        """CPU time used so far by every process of the service, their children included."""
        return sum(_tree_cpu(proc.pid) for _, proc, _ in self.procs)

    def stop(self) -> None:
        """Stop the processes this run started (SIGTERM, then SIGKILL after 30 s)."""
        for _, proc, _ in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for _, proc, _ in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log_errors(self) -> Counter[str]:
        """ERROR lines in the processes' logs, by message; a logged traceback counts as its exception line."""
        found: Counter[str] = Counter()
        for name, _, log in self.procs:
            pending, traced = "", False  # an ERROR line, and whether a traceback follows it
            for line in log.read_text(errors="replace").splitlines():
                if " ERROR " in line:
                    if pending:
                        found[pending] += 1
                    pending, traced = f"{name}: {line.split(' ERROR ', 1)[1][:160]}", False
                elif pending and line.startswith("Traceback"):
                    traced = True
                elif pending and traced and line and not line.startswith((" ", "During handling", "The above")):
                    found[f"{name}: {line[:160]}"] += 1
                    pending = ""
            if pending:
                found[pending] += 1
        return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree_cpu(pid: int) -> float:
    """utime + stime of a process and its descendants, from /proc (0 for a process that is gone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        own = (int(fields[11]) + int(fields[12])) / ticks
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (OSError, IndexError, ValueError):
        return 0.0
    return own + sum(_tree_cpu(int(c)) for c in children)


def service_env(
    url: str, workdir: Path, wechat_api: InboxWeChatAPI, telegram_api: InboxTelegramAPI, keys: dict[str, str]
) -> dict[str, str]:
    """The settings every process of the deployment shares (secrets generated for this run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDBOT_")}
    env.update(
        {
            "GRIDBOT_ENV": "development",
            "GRIDBOT_DATABASE_URL": url,
            "GRIDBOT_DATA_DIR": str(workdir / "var"),
            "GRIDBOT_MODEL_DIR": str(PROJECT_ROOT / "var" / "models"),
            "GRIDBOT_LOG_LEVEL": "WARNING",
            "GRIDBOT_SECRET_KEY": keys["secret_key"],
            "GRIDBOT_WECHAT_TOKEN": keys["wechat_token"],
            "GRIDBOT_WECHAT_APP_ID": "wxload0000000001",
            "GRIDBOT_WECHAT_APP_SECRET": keys["wechat_secret"],
            "GRIDBOT_WECHAT_AES_KEY": "",
            "GRIDBOT_WECHAT_API_BASE": wechat_api.api_base,
            "GRIDBOT_WECOM_CORP_ID": WECOM_CORP_ID,
            "GRIDBOT_WECOM_AGENT_ID": str(WECOM_AGENT_ID),
            "GRIDBOT_WECOM_SECRET": keys["wecom_secret"],
            "GRIDBOT_WECOM_TOKEN": keys["wecom_token"],
            "GRIDBOT_WECOM_AES_KEY": keys["wecom_aes_key"],
            "GRIDBOT_WECOM_API_BASE": wechat_api.api_base,
            "GRIDBOT_TELEGRAM_TOKEN": keys["telegram_token"],
            "GRIDBOT_TELEGRAM_SECRET": keys["telegram_secret"],
            "GRIDBOT_TELEGRAM_API_BASE": telegram_api.base_url,
        }
    )
    return env


def new_keys() -> dict[str, str]:
    """Fresh secrets for one run (the WeCom EncodingAESKey is 43 characters of base64)."""
    return {
        "secret_key": secrets.token_urlsafe(32),
        "wechat_token": secrets.token_hex(16),
        "wechat_secret": secrets.token_hex(16),
        "wecom_secret": secrets.token_hex(16),
        "wecom_token": secrets.token_hex(16),
        "wecom_aes_key": base64.b64encode(os.urandom(32)).decode().rstrip("="),
        "telegram_token": f"{random.randrange(10**8, 10**9)}:{secrets.token_urlsafe(24)}",
        "telegram_secret": secrets.token_urlsafe(24),
    }


def grid_points(per_grid: int = 12, seed: int = 7) -> dict[str, list[tuple[float, float]]]:
    """Points (lon, lat) that the service's own grid index places in each grid and special grid."""
    from backend.cityconfig import load_city_config
    from backend.domain.routing import GridIndex

    city = load_city_config(PROJECT_ROOT / "config")
    index = GridIndex.build(city.areas.values())
    rng = random.Random(seed)
    points: dict[str, list[tuple[float, float]]] = {}
    for area in city.areas.values():
        if area.level not in ("grid", "special"):
            continue
        minx, miny, maxx, maxy = area.geometry.bounds
        found: list[tuple[float, float]] = []
        for _ in range(50 * per_grid):
            lon, lat = round(rng.uniform(minx, maxx), 6), round(rng.uniform(miny, maxy), 6)
            code = index.locate(lon, lat)
            if code is not None and city.grid_of(code) == area.code:
                found.append((lon, lat))
                if len(found) == per_grid:
                    break
        if found:
            points[area.code] = found
    return points


def gridworkers(points: dict[str, list[tuple[float, float]]], n: int) -> list[tuple[str, str]]:
    """The first n gridworkers with a WeCom account whose grid has points: (WeCom userid, grid)."""
    from backend.cityconfig import load_city_config

    city = load_city_config(PROJECT_ROOT / "config")
    staff = [
        (r.wecom_userid, r.scope)
        for r in city.staff.values()
        if r.role == "gridworker" and r.wecom_userid and r.scope in points
    ]
    return staff[:n]


def set_passwords(url: str, codes: list[str]) -> None:
    """Give the reading staff the run's password (argon2, as the service checks it)."""
    from sqlalchemy import update

    from backend.db.models import Staff
    from backend.db.session import make_engine
    from backend.services.security import hash_password

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(update(Staff).where(Staff.code.in_(codes)).values(password_hash=hash_password(PASSWORD)))
    engine.dispose()


def outbox_counts(url: str) -> tuple[dict[str, int], dict[str, int]]:
    """Tickets and outbox notifications by status."""
    from sqlalchemy import func, select

    from backend.db.models import Notification, Ticket
    from backend.db.session import make_engine

    engine = make_engine(url, pool_size=1, max_overflow=0)
    with engine.connect() as conn:
        tickets = dict(conn.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).all())
        notes = dict(conn.execute(select(Notification.status, func.count()).group_by(Notification.status)).all())
    engine.dispose()
    return {str(k): int(v) for k, v in tickets.items()}, {str(k): int(v) for k, v in notes.items()}


class Sampler:
    """Samples, every half second in a thread, the database's connections and the outbox backlog; keeps the peaks."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connections = 0
        self.backlog = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        import psycopg

        name = self.url.rsplit("/", 1)[1]
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(0.5):
                used = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)).fetchone()
                pending = conn.execute("SELECT count(*) FROM notifications WHERE status = 'pending'").fetchone()
                self.connections = max(self.connections, int(used[0]) - 1 if used else 0)  # not our own
                self.backlog = max(self.backlog, int(pending[0]) if pending else 0)


def drain(url: str, timeout: float) -> tuple[float, dict[str, int], dict[str, int]]:
    """Let the workers empty the outbox (up to `timeout` s); seconds taken, tickets and outbox by status."""
    started = time.monotonic()
    while True:
        tickets, notes = outbox_counts(url)
        if not notes.get("pending") or time.monotonic() - started >= timeout:
            return time.monotonic() - started, tickets, notes
        time.sleep(0.5)


def wait_breakdown(url: str) -> dict[str, dict[str, float]]:
    """Where a reply's time went, from the database: the inbox wait (stored → turn done) and the outbox wait
    per channel (queued → sent); n, p50 and p99 in ms."""
    import psycopg

    def row(n: int, p50: float | None, p99: float | None) -> dict[str, float]:
        return {"n": n, "p50_ms": (p50 or 0.0) * 1000, "p99_ms": (p99 or 0.0) * 1000}

    quantiles = "percentile_cont(0.5) WITHIN GROUP (ORDER BY w), percentile_cont(0.99) WITHIN GROUP (ORDER BY w)"
    with psycopg.connect(url) as conn:
        inbox = conn.execute(
            f"SELECT count(*), {quantiles} FROM (SELECT extract(epoch FROM done_at - received_at) AS w "
            "FROM inbox_messages WHERE done_at IS NOT NULL) t"
        ).fetchone()
        # The send's own time (its 'sent' attempt), not sent_at: a batch is recorded once its last booked slot
        # has gone out, so sent_at runs up to max_rate_wait behind the send. A row folded into another's message
        # (status 'folded', last_error 'folded into <key>', perhaps again and again) waits until that one's send.
        outbox = conn.execute(
            "WITH RECURSIVE hop(origin, channel, created_at, at_id, at_status, at_note) AS ("
            " SELECT id, channel, created_at, id, status, last_error FROM notifications"
            " UNION ALL SELECT h.origin, h.channel, h.created_at, c.id, c.status, c.last_error FROM hop h"
            " JOIN notifications c ON c.key = substring(h.at_note FROM '^folded into (.*)$')"
            " WHERE h.at_status = 'folded')"
            f" SELECT channel, count(*), {quantiles} FROM (SELECT h.channel,"
            " extract(epoch FROM min(a.at) - h.created_at) AS w FROM hop h JOIN notification_attempts a"
            " ON a.notification_id = h.at_id AND a.outcome = 'sent' GROUP BY h.origin, h.channel, h.created_at) t"
            " GROUP BY channel ORDER BY channel"
        ).fetchall()
    waits = {"inbox": row(*inbox)} if inbox and inbox[0] else {}
    waits.update({f"outbox {channel}": row(n, p50, p99) for channel, n, p50, p99 in outbox})
    return waits


def rate_limits_env(value: str) -> dict[str, str]:
    """The workers' environment for --rate-limits: default, off, or GRIDBOT_WORKER_RATE_LIMITS JSON (checked here)."""
    from backend.workers.ratelimit import RateLimits

    if value == "default":
        return {}
    if value == "off":
        return {"GRIDBOT_WORKER_RATE_LIMITS_ENABLED": "false"}
    RateLimits.from_config(json.loads(value))  # a bad value fails now, not in the worker after the set-up
    return {"GRIDBOT_WORKER_RATE_LIMITS": value}


async def drive(
    args: argparse.Namespace,
    base_url: str,
    inbox: Inbox,
    keys: dict[str, str],
    points: dict[str, list[tuple[float, float]]],
    staff: list[tuple[str, str]],
) -> World:
    """Run every simulated person against the service until the deadline."""
    rng = random.Random(args.seed)
    chatters = args.residents + args.staff
    limits = httpx.Limits(max_connections=PEOPLE_PER_CLIENT, max_keepalive_connections=PEOPLE_PER_CLIENT)
    clients = [
        httpx.AsyncClient(base_url=base_url, timeout=args.webhook_timeout, limits=limits)
        for _ in range(max(1, -(-chatters // PEOPLE_PER_CLIENT)))
    ]
    world = World(
        clients=clients,
        inbox=inbox,
        wechat=Platform(keys["wechat_token"]),
        wecom=Platform(keys["wecom_token"], app_id=WECOM_CORP_ID, aes_key=keys["wecom_aes_key"], wecom=True),
        wecom_corp_id=WECOM_CORP_ID,
        wecom_agent_id=WECOM_AGENT_ID,
        telegram_secret=keys["telegram_secret"],
        points=points,
        staff_grids=[grid for _, grid in staff] or list(points),
        deadline=time.monotonic() + args.duration,
        interval=args.interval,
        read_interval=args.read_interval,
        reply_wait=args.reply_wait,
        retries=args.platform_retries,
        rng=rng,
    )
    for name in STREAMS:
        world.stream(name)
    # Residents live all over the city, spread evenly over the grids, those of the acting gridworkers first.
    grids = world.staff_grids + sorted(set(points) - set(world.staff_grids))
    people: list[Any] = [world.watch_lag()]
    telegram_every = round(1 / args.telegram_share) if args.telegram_share > 0 else 0
    for i in range(args.residents):
        grid = grids[i % len(grids)]
        kind: type[Resident] = TelegramResident if telegram_every and i % telegram_every == 0 else WeChatResident
        user = str(800_000_000 + i) if kind is TelegramResident else f"oload{i:06d}"
        people.append(kind(world, user, grid).run())
    people += [GridWorker(world, userid, grid).run() for userid, grid in staff]
    for i in range(args.readers):
        people.append(api_reader(world, base_url, READERS[i % len(READERS)], PASSWORD))
        people.append(dashboard_reader(world, base_url, READERS[(i + 1) % len(READERS)], PASSWORD))
    try:
        outcomes = await asyncio.gather(*people, return_exceptions=True)
    finally:
        for client in clients:
            await client.aclose()
    for failure in (o for o in outcomes if isinstance(o, BaseException)):
        world.counts[f"load generator error: {type(failure).__name__}"] += 1
        if world.counts[f"load generator error: {type(failure).__name__}"] == 1:
            traceback.print_exception(failure)
    return world


def run_async(coro: Any) -> Any:
    """Run a coroutine on uvloop when it is installed (less of the load generator's CPU per request)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def server_latency(base_url: str, api_procs: int) -> dict[str, dict[str, float]]:
    """Request latency per webhook route as the service measured it (its /metrics histograms).

    Each API process keeps its own registry and answers whichever scrape it accepts, so scrape with fresh
    connections until every process has been seen (the load has stopped, so a process's webhook histograms
    no longer change and identify it), then add the histograms up.
    """
    seen: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for _ in range(20 * api_procs):
        try:
            text = httpx.get(base_url + "/metrics", timeout=10).text
        except httpx.HTTPError:
            continue
        buckets: dict[str, list[tuple[float, float]]] = {}
        for line in text.splitlines():
            if line.startswith("gridbot_http_request_duration_seconds_bucket{") and 'method="POST"' in line:
                route = line.split('route="', 1)[1].split('"', 1)[0]
                bound = line.split('le="', 1)[1].split('"', 1)[0]
                if route in WEBHOOK_ROUTES:
                    buckets.setdefault(route, []).append((float(bound), float(line.rsplit(" ", 1)[1])))
        seen[repr(sorted(buckets.items()))] = buckets
        if len(seen) >= api_procs:
            break
    out: dict[str, dict[str, float]] = {}
    for route, name in WEBHOOK_ROUTES.items():
        total: dict[float, float] = defaultdict(float)
        for buckets in seen.values():
            for le, n in buckets.get(route, []):
                total[le] += n
        out[name] = {
            "processes_seen": len(seen),
            **{f"p{round(q * 100)}_ms": _quantile(sorted(total.items()), q) for q in (0.5, 0.95, 0.99)},
        }
    return out


def _quantile(cumulative: list[tuple[float, float]], q: float) -> float:
    """A quantile (ms) from cumulative histogram buckets, interpolated linearly inside its bucket."""
    if not cumulative or cumulative[-1][1] == 0:
        return float("nan")
    rank, lower, below = q * cumulative[-1][1], 0.0, 0.0
    for le, n in cumulative:
        if n >= rank:
            if le == float("inf"):
                return float("inf")  # beyond the last finite bucket (10 s)
            return (lower + (le - lower) * (rank - below) / max(n - below, 1e-9)) * 1000
        lower, below = le, n
    return lower * 1000


def run_config(args: argparse.Namespace, api_procs: int, workers: int) -> dict[str, Any]:
    """One deployment under the whole workload: fresh database, fakes, processes, load, drain; the figures."""
    server = os.environ.get("GRIDBOT_TEST_POSTGRES_URL", PG_DEFAULT)
    url = server.rsplit("/", 1)[0] + "/" + LOAD_DB
    workdir = Path(tempfile.mkdtemp(prefix="gridbot-load-"))
    print(f"{api_procs} API + {workers} worker(s): service logs in {workdir}", file=sys.stderr)
    prepare_database(url, workdir)
    set_passwords(url, READERS)
    points = grid_points()
    staff = gridworkers(points, args.staff)
    inbox, keys = Inbox(), new_keys()
    wechat_api, telegram_api = InboxWeChatAPI(inbox), InboxTelegramAPI(inbox)
    wechat_api.start()
    telegram_api.start()
    service: Service | None = None
    try:
        env = service_env(url, workdir, wechat_api, telegram_api, keys)
        if args.inbox:
            env = {**env, "GRIDBOT_INBOX_ENABLED": "true", "GRIDBOT_INBOX_SERVE_PROCESSORS": "0"}
        env.update(rate_limits_env(args.rate_limits))
        service = Service(env, workdir, api_procs, workers, processors=args.inbox, nice=args.serve_nice)
        service.wait_healthy()
        cpu_before, own_before = service.cpu_seconds(), _own_cpu()
        started = time.monotonic()
        with Sampler(url) as sampler:
            world = run_async(drive(args, service.base_url, inbox, keys, points, staff))
            elapsed = time.monotonic() - started
            cpu_service, cpu_own = service.cpu_seconds() - cpu_before, _own_cpu() - own_before
            drained, tickets, notes = drain(url, args.drain)
        measured = server_latency(service.base_url, api_procs)
        waits = wait_breakdown(url)
    finally:
        if service is not None:
            service.stop()
        wechat_api.stop()
        telegram_api.stop()
    return figures(
        args,
        api_procs,
        workers,
        world,
        elapsed,
        drained,
        tickets,
        notes,
        cpu_service,
        cpu_own,
        service.log_errors(),
        service.commands,
        inbox.total,
        measured,
        sampler,
        waits,
    )


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def figures(
    args: argparse.Namespace,
    api_procs: int,
    workers: int,
    world: World,
    elapsed: float,
    drained: float,
    tickets: dict[str, int],
    notes: dict[str, int],
    cpu_service: float,
    cpu_own: float,
    log_errors: Counter[str],
    commands: list[str],
    delivered: int,
    measured: dict[str, dict[str, float]],
    sampler: Sampler,
    waits: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """The figures of one configuration as plain data."""

    def summary(values: list[float]) -> dict[str, float]:
        return {"n": len(values), "p50_ms": pct(values, 0.50), "p95_ms": pct(values, 0.95), "p99_ms": pct(values, 0.99)}

    streams = {
        name: {
            **summary(s.latencies),
            "requests": s.requests,
            "errors": s.failed,
            "messages": s.messages,
            "acknowledged": s.acknowledged,
            "per_s": s.requests / args.duration,
            "error_kinds": dict(s.errors),
        }
        for name, s in world.streams.items()
    }
    resident = [x for name in RESIDENT_STREAMS for x in world.streams[name].latencies]
    reports_ok = sum(world.streams[n].acknowledged for n in RESIDENT_STREAMS)
    return {
        "label": f"{api_procs} API + {workers} worker{'s' if workers > 1 else ''}"
        + (f" + {args.inbox} inbox processor{'s' if args.inbox > 1 else ''}" if args.inbox else ""),
        "api_procs": api_procs,
        "workers": workers,
        "duration_s": args.duration,
        "elapsed_s": elapsed,
        "streams": streams,
        "reports_ok": reports_ok,
        "reports_per_s": reports_ok / args.duration,
        "webhook": summary(resident),
        "outbox_latency": {what: summary(v) for what, v in world.outbox_latency.items()},
        "rate_limits": args.rate_limits,
        "waits": waits,
        "counts": dict(world.counts),
        "tickets": sum(tickets.values()),
        "tickets_by_status": tickets,
        "outbox": notes,
        "drain_s": drained,
        "delivered_at_fakes": delivered,
        "cpu_service_s": cpu_service,
        "cpu_loadgen_s": cpu_own,
        "loadgen_lag": summary(world.lag),
        "server_side": measured,
        "peak_db_connections": sampler.connections,
        "peak_outbox_backlog": sampler.backlog,
        "log_errors": sum(log_errors.values()),
        "log_error_kinds": dict(log_errors.most_common(8)),
        "commands": commands,
    }


def _ms(s: dict[str, float], *keys: str) -> str:
    """Milliseconds: – without samples (NaN), > 10000 past the service histogram's last bucket (inf)."""
    return " / ".join("–" if s[k] != s[k] else "> 10000" if s[k] == float("inf") else f"{s[k]:.0f}" for k in keys)


def table_rows(results: list[dict[str, Any]], *, compact: bool = False) -> list[tuple[str, Any, str]]:
    """(figure, value, target) rows; with several configurations each value cell lists them in order (a → b)."""

    def cell(fn: Any) -> Any:
        values = [fn(r) for r in results]
        return values[0] if len(values) == 1 else " → ".join(v if isinstance(v, str) else f"{v:,.1f}" for v in values)

    def count(r: dict[str, Any], prefix: str) -> int:
        return sum(v for k, v in r["counts"].items() if k.startswith(prefix))

    rows: list[tuple[str, Any, str]] = [
        ("webhook reports/s (resident messages acknowledged with a 2xx)", cell(lambda r: r["reports_per_s"]), "≥ 300"),
        ("webhook p99 (ms), resident messages, every attempt", cell(lambda r: _ms(r["webhook"], "p99_ms")), "< 200 ms"),
        ("webhook p50 / p95 (ms)", cell(lambda r: _ms(r["webhook"], "p50_ms", "p95_ms")), ""),
        ("tickets created (in the database at the end)", cell(lambda r: str(r["tickets"])), ""),
    ]
    if compact:
        rows += [
            (f"{n}: p50 / p99 (ms)", cell(lambda r, n=n: _ms(r["streams"][n], "p50_ms", "p99_ms")), "")
            for n in ("API reads", "Dashboard reads")
        ]
    else:
        for n in STREAMS:
            rows += [
                (
                    f"{n}: requests (errors)",
                    cell(lambda r, n=n: f"{r['streams'][n]['requests']} ({r['streams'][n]['errors']})"),
                    "",
                ),
                (f"{n}: per s", cell(lambda r, n=n: r["streams"][n]["per_s"]), ""),
                (
                    f"{n}: p50 / p95 / p99 (ms)",
                    cell(lambda r, n=n: _ms(r["streams"][n], "p50_ms", "p95_ms", "p99_ms")),
                    "",
                ),
            ]
            if n in WEBHOOK_ROUTES.values():
                rows += [
                    (
                        f"{n}: messages acknowledged / posted",
                        cell(lambda r, n=n: f"{r['streams'][n]['acknowledged']} / {r['streams'][n]['messages']}"),
                        "all",
                    ),
                    (
                        f"{n}: p50 / p95 / p99 (ms) measured by the service",
                        cell(lambda r, n=n: _ms(r["server_side"][n], "p50_ms", "p95_ms", "p99_ms")),
                        "",
                    ),
                ]
        for what in ("Telegram reply", "WeCom card", "WeChat late reply"):
            rows.append(
                (
                    f"{what} through the outbox, from the request (ms) p50 / p95 / p99",
                    cell(
                        lambda r, w=what: (
                            _ms(r["outbox_latency"][w], "p50_ms", "p95_ms", "p99_ms")
                            if w in r["outbox_latency"]
                            else "–"
                        )
                    ),
                    "",
                )
            )
        for what in ("inbox", *(f"outbox {c}" for c in ("telegram", "wechat", "wecom"))):
            rows.append(
                (
                    f"{what} wait (ms) p50 / p99 ({'stored → turn done' if what == 'inbox' else 'queued → send'})",
                    cell(lambda r, w=what: _ms(r["waits"][w], "p50_ms", "p99_ms") if w in r.get("waits", {}) else "–"),
                    "",
                )
            )
        rows += [
            (
                "dialogues completed / abandoned",
                cell(lambda r: f"{count(r, 'dialogues completed')} / {count(r, 'dialogues abandoned')}"),
                "",
            ),
            (
                "staff: accepted / checked in on site",
                cell(lambda r: f"{count(r, 'staff: accepted')} / {count(r, 'staff: checked in')}"),
                "",
            ),
            (
                "CPU s during the load: service / load generator + fakes",
                cell(lambda r: f"{r['cpu_service_s']:.0f} / {r['cpu_loadgen_s']:.0f}"),
                "",
            ),
            (
                "load generator timer lag p50 / p99 (ms)",
                cell(lambda r: _ms(r["loadgen_lag"], "p50_ms", "p99_ms")),
                "small",
            ),
            (
                "peak PostgreSQL connections / peak outbox backlog (pending rows)",
                cell(lambda r: f"{r['peak_db_connections']} / {r['peak_outbox_backlog']}"),
                "",
            ),
            ("ERROR lines in the service logs", cell(lambda r: str(r["log_errors"])), "0"),
        ]
    rows.append(
        (
            "outbox after the drain: sent / pending / dead (drain s)",
            cell(
                lambda r: (
                    f"{r['outbox'].get('sent', 0)} / {r['outbox'].get('pending', 0)} / "
                    f"{r['outbox'].get('dead', 0)} ({r['drain_s']:.0f})"
                )
            ),
            "pending 0, dead 0",
        )
    )
    return rows


def notes_for(args: argparse.Namespace, results: list[dict[str, Any]]) -> str:
    """What was run, and what went wrong, for the report."""
    order = " → ".join(r["label"] for r in results)
    limits = RATE_LIMITS_NOTE.get(args.rate_limits, f"GRIDBOT_WORKER_RATE_LIMITS={args.rate_limits}")
    parts = [
        f"Each value reads {order}. " if len(results) > 1 else "",
        f"{args.duration:g} s of mixed load on PostgreSQL: {args.residents} residents "
        f"({round(args.telegram_share * 100)} % on Telegram, the rest on the WeChat webhook in plain mode), one "
        f"message each every {args.interval:g} s on average (location pin, description, then the answer to a "
        f"duplicate or category question), {args.staff} gridworkers on WeCom (AES callbacks: task list, a task's "
        f"card, accept or on-site check-in), {args.readers} API and {args.readers} dashboard readers (one round "
        f"every {args.read_interval:g} s). A platform gives a webhook {args.webhook_timeout:g} s (WeChat's limit; "
        f"Telegram documents none, the same is used) and after a timeout or a 5xx posts the message again, up to "
        f"{args.platform_retries} times; latencies and errors count every attempt. The deployment: "
        f"`{'`, `'.join(results[-1]['commands'])}` on one PostgreSQL; the load generator and the fake platform "
        f"APIs run on the same machine and use CPU too (row 'CPU s'). The outbox had "
        f"{args.drain:g} s to drain after the load stopped. Outbox rate limits: {limits}.",
        " With the durable inbox a WeChat or WeCom webhook request waits for its turn (up to "
        "GRIDBOT_INBOX_REPLY_WAIT_SECONDS) and answers with the reply, passively, even when the turn runs in "
        "another process: its latency is the reply's, not an acknowledgement's (`bench.webhook --inbox` measures "
        "acknowledgements alone)."
        if args.inbox
        else "",
    ]
    for r in results:
        errors = {f"{n}: {k}": v for n, s in r["streams"].items() for k, v in s["error_kinds"].items()}
        odd = {k: v for k, v in r["counts"].items() if "abandoned" in k or "not delivered" in k or "error" in k}
        if errors or odd or r["log_error_kinds"]:
            parts.append(
                f" {r['label']}: request failures {errors or 'none'}; dialogue trouble {odd or 'none'}; "
                f"service log errors {r['log_error_kinds'] or 'none'}."
            )
    return "".join(parts)


def main() -> None:
    """Run the load test (one configuration, or the scale-out pair) and report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--api-procs", type=int, default=1, help="API processes (gridbot serve --workers)")
    parser.add_argument("--workers", type=int, default=1, help="outbox worker processes (gridbot worker)")
    parser.add_argument("--residents", type=int, default=1200)
    parser.add_argument("--staff", type=int, default=20, help="gridworkers acting in WeCom")
    parser.add_argument("--readers", type=int, default=4, help="API readers, and as many dashboard readers")
    parser.add_argument(
        "--interval",
        type=float,
        default=3.5,
        help="mean seconds between one person's chat messages (the chat limit is 20 a minute)",
    )
    parser.add_argument("--read-interval", type=float, default=2.0, help="mean seconds between a reader's rounds")
    parser.add_argument("--telegram-share", type=float, default=0.25)
    parser.add_argument(
        "--reply-wait", type=float, default=15.0, help="how long a person waits for a message through the outbox"
    )
    parser.add_argument(
        "--webhook-timeout",
        type=float,
        default=5.0,
        help="seconds a platform waits for the webhook (WeChat and WeCom: 5)",
    )
    parser.add_argument(
        "--platform-retries",
        type=int,
        default=3,
        help="times a platform posts a message again after a timeout or a 5xx (WeChat: 3)",
    )
    parser.add_argument("--drain", type=float, default=60.0, help="seconds the workers get to empty the outbox")
    parser.add_argument("--scale-out", action="store_true", help="run 1 API + 1 worker, then 2 + 2")
    parser.add_argument(
        "--inbox",
        type=int,
        default=0,
        help="durable inbox on, with this many `gridbot process` processes (written as its own section)",
    )
    parser.add_argument(
        "--rate-limits",
        default="default",
        help="outbox send limits: default (the platforms' quotas), off, or the JSON of GRIDBOT_WORKER_RATE_LIMITS",
    )
    parser.add_argument(
        "--serve-nice",
        type=int,
        default=0,
        help="niceness of the API processes, so that the turns go first on shared cores (docs/DEPLOYMENT.md)",
    )
    parser.add_argument(
        "--section",
        help="the section of BENCHMARKS.md and RELIABILITY.md to write, to keep this run beside the usual one"
        " (default: load, load_inbox, with _limits_changed when --rate-limits is not default)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from nlp.cli import ensure_default_model

    # Built once here, so that several API processes starting together do not all build it.
    ensure_default_model(PROJECT_ROOT / "config", PROJECT_ROOT / "var" / "models")
    configs = [(1, 1), (2, 2)] if args.scale_out else [(args.api_procs, args.workers)]
    results = [run_config(args, api, workers) for api, workers in configs]
    title = "Mixed load on PostgreSQL (bench/load)" + (
        f": {' → '.join(r['label'] for r in results)}" if len(results) > 1 else f", {results[0]['label']}"
    )
    command = "python -m bench.load " + " ".join(sys.argv[1:])
    notes = notes_for(args, results)
    section = args.section or (
        ("load_inbox" if args.inbox else "load") + ("" if args.rate_limits == "default" else "_limits_changed")
    )
    if args.rate_limits != "default":
        title += f", outbox rate limits {args.rate_limits}"
    title += f", {args.residents} residents ({args.residents / args.interval:.0f} messages/s offered)"
    report(
        section,
        title,
        table_rows(results),
        as_json=args.json,
        figures={"runs": results},
        notes=notes,
        target=RELIABILITY_MD,
        command=command.strip(),
    )
    write_section(
        section,
        title,
        table_rows(results, compact=True),
        "Compact copy; the full table, per-stream figures and failures are in RELIABILITY.md.",
        target=BENCHMARKS_MD,
        command=command.strip(),
    )


if __name__ == "__main__":
    main()

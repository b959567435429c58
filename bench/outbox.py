"""Benchmark: notifications per second through the fake Telegram Bot API with 1, 2 and 4 worker processes.

PostgreSQL (GRIDBOT_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test) in a database
of its own, `gridbot_bench`; rate limits off. Workers are started and idle first; the clock starts when
the notifications are committed and stops when the last one is delivered. Three modes: `batch` hands each
claimed batch to the event-loop batch sender (bot/telegram/batch_sender.py: kept-alive connections, httptools),
`http` sends one message per send thread through the httpcore sender, both to a fast fake Bot API (its own
process); `null` uses a sender that does nothing, which measures the outbox machinery alone (claim, lease,
record).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from collections import Counter
from typing import Any

import psycopg
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from backend.db.migrate import upgrade
from backend.db.models import Notification
from backend.db.session import make_engine
from backend.domain.notifications import NoticeKind
from backend.workers.channels import Delivery
from bench._report import report
from tests.workers.fast_fake_telegram import FastFakeProcess

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
TARGET = 2000.0


def bench_database() -> str:
    """Create (if needed) and migrate the gridbot_bench database next to the configured one."""
    url = make_url(os.environ.get("GRIDBOT_TEST_POSTGRES_URL") or DEFAULT_URL)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'gridbot_bench'").fetchone() is None:
            conn.execute('CREATE DATABASE "gridbot_bench"')
    bench_url = url.set(database="gridbot_bench").render_as_string(hide_password=False)
    upgrade(bench_url)
    return bench_url


class NullSender:
    """Accepts every message without any I/O."""

    def send(self, delivery: Delivery) -> None:
        return None


def _worker(
    db_url: str,
    api_base: str | None,
    mode: str,
    worker_id: str,
    stop: Any,
    ready: Any,
    cpu: Any,
    batch: int,
    threads: int,
) -> None:
    import logging

    from backend.db.session import make_session_factory
    from backend.workers.outbox import OutboxConfig, run_worker
    from backend.workers.ratelimit import RateLimits
    from bot.telegram.batch_sender import TelegramBatchSender
    from bot.telegram.http_sender import TelegramHttpSender

    logging.basicConfig(level=logging.WARNING)
    engine = make_engine(db_url, pool_size=2)
    sender: TelegramHttpSender | TelegramBatchSender | None = None
    if api_base and mode == "batch":
        sender = TelegramBatchSender(api_base, "BENCH:TOKEN", timeout=10.0)
    elif api_base:
        sender = TelegramHttpSender(api_base, "BENCH:TOKEN", timeout=10.0)
    config = OutboxConfig(
        batch_size=batch, lease_seconds=30.0, send_threads=threads, idle_sleep=0.02, limits=RateLimits(enabled=False)
    )
    with engine.connect():
        pass  # connected: ready to go
    ready.set()
    cpu_start = time.process_time()
    try:
        run_worker(
            make_session_factory(engine),
            {"telegram": sender or NullSender()},
            worker_id=worker_id,
            stop_event=stop,
            config=config,
        )
    finally:
        cpu.put(time.process_time() - cpu_start)
        if sender:
            sender.close()
        engine.dispose()


def run_once(db_url: str, workers: int, count: int, batch: int, threads: int, mode: str) -> dict[str, Any]:
    """Send `count` notifications with `workers` processes; returns rate and repeat figures."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE notification_attempts, notifications, job_leases RESTART IDENTITY"))
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    fake = FastFakeProcess().start() if mode in ("http", "batch") else None
    api_base = fake.base_url if fake else None
    ready = [ctx.Event() for _ in range(workers)]
    cpu = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(db_url, api_base, mode, f"bench{i}", stop, ready[i], cpu, batch, threads))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    for event in ready:  # the workers have imported and connected
        event.wait(120)
    time.sleep(0.5)
    rows = [
        {
            "key": f"b{i}",
            "channel": "telegram",
            "external_id": str(10_000 + i % 5000),
            "kind": NoticeKind.task_new.value,
            "payload": {"number": f"b{i}"},
        }
        for i in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Notification), rows)
    started = time.monotonic()
    sent_query = select(func.count()).select_from(Notification).where(Notification.status == "sent")
    while time.monotonic() < started + 300:
        if fake is not None and fake.delivered >= count:
            break
        if fake is None:
            with engine.connect() as conn:
                if conn.scalar(sent_query) == count:
                    break
        time.sleep(0.01 if fake else 0.05)
    elapsed = time.monotonic() - started
    stop.set()
    worker_cpu = sum(cpu.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    texts = Counter(fake.stop()) if fake else Counter()
    with engine.connect() as conn:
        sent = int(conn.scalar(sent_query) or 0)
    engine.dispose()
    delivered = len(texts) if fake else sent
    return {
        "mode": mode,
        "workers": workers,
        "notifications": count,
        "seconds": round(elapsed, 3),
        "per_second": round(delivered / elapsed, 1),
        "delivered": delivered,
        "duplicates": sum(n - 1 for n in texts.values()),
        "recorded_sent": sent,
        "worker_cpu_ms_per_notification": round(worker_cpu * 1000 / max(sent, 1), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--count", type=int, default=6_000, help="notifications per run")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4, help="send threads per worker")
    parser.add_argument(
        "--modes",
        default="batch,http,null",
        help="batch (event-loop batch sender to the fake API), http (a send thread per message), null (no I/O)",
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs per configuration; the best is reported")
    args = parser.parse_args()
    db_url = bench_database()
    load_before = os.getloadavg()[0]
    rows: list[tuple[str, Any, str]] = []
    figures: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "count": args.count,
        "batch": args.batch,
        "threads": args.threads,
        "repeat": args.repeat,
    }
    for mode in args.modes.split(","):
        for n in (int(w) for w in args.workers.split(",")):
            runs = [run_once(db_url, n, args.count, args.batch, args.threads, mode) for _ in range(args.repeat)]
            best = max(runs, key=lambda r: r["per_second"])
            best["all_per_second"] = [r["per_second"] for r in runs]
            target = f"≥ {TARGET:,.0f} (best worker count)" if mode == "batch" else ""
            rows.append((f"{mode}, {n} worker(s): notifications/s", best["per_second"], target))
            rows.append(
                (f"{mode}, {n} worker(s): worker CPU ms per notification", best["worker_cpu_ms_per_notification"], "")
            )
            if mode in ("http", "batch"):
                rows.append(
                    (
                        f"{mode}, {n} worker(s): delivered / duplicates (worst run)",
                        f"{min(r['delivered'] for r in runs)} / {max(r['duplicates'] for r in runs)}",
                        f"{args.count} / 0",
                    )
                )
            figures[f"{mode}_workers_{n}"] = best
    load = (load_before, os.getloadavg()[0])
    figures["load_average"] = load
    notes = (
        f"PostgreSQL database `gridbot_bench`, rate limits off, batch {args.batch}, {args.threads} send "
        f"threads per worker, {args.count} notifications per run, best of {args.repeat} runs. `batch`: each "
        "claimed batch handed whole to the batch sender (one event loop, up to 32 kept-alive connections, "
        "httptools; chats in parallel, each chat in order); `http`: the httpcore sender, one message per send "
        "thread; both to a fake Bot API (uvloop + httptools, in its own process); `null`: a sender "
        "without I/O, i.e. the outbox machinery alone (claim, lease, record). The fake, PostgreSQL and "
        f"the workers share this machine's {os.cpu_count()} cores (1-minute load average "
        f"{load[0]:.1f} before, {load[1]:.1f} after: other jobs were running)."
    )
    report("outbox", "Outbox worker throughput", rows, as_json=args.json, figures=figures, notes=notes)


if __name__ == "__main__":
    main()

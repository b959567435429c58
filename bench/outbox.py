"""Benchmark: notifications per second through the fake Telegram Bot API with 1, 2 and 4 worker processes.

PostgreSQL (GRIDBOT_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test) in a database
of its own, `gridbot_bench`; rate limits off. Workers are started and idle first; the clock starts when
the notifications are committed and stops when the last one is delivered. Four modes: `ptb` is the sender
`gridbot worker` runs (bot/telegram/send.py: each claimed batch through PTB's Bot over aiohttp, the messages
rendered from the catalogue, with buttons); `batch` hands each claimed batch to a bare event-loop batch
sender (bot/telegram/batch_sender.py: kept-alive connections, httptools, a plain text), `http` sends one
message per send thread through the httpcore sender, all to a fast fake Bot API (its own process); `null`
uses a sender that does nothing, which measures the outbox machinery alone (claim, lease, record).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from collections import Counter, defaultdict
from itertools import pairwise
from typing import Any

import psycopg
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from backend.db.migrate import upgrade
from backend.db.models import Notification
from backend.db.session import make_engine
from backend.domain.notifications import NoticeKind
from backend.workers.channels import Delivery
from backend.workers.ratelimit import ChannelLimits, Rate, RateLimits
from bench._report import report
from tests.workers.fast_fake_telegram import FastFakeProcess

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
TARGET = 2000.0
OFF = RateLimits(enabled=False)


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
    limits: RateLimits,
) -> None:
    import logging

    from backend.db.session import make_session_factory
    from backend.workers.outbox import OutboxConfig, run_worker
    from bot.app import settle_heap
    from bot.telegram.batch_sender import TelegramBatchSender
    from bot.telegram.http_sender import TelegramHttpSender
    from bot.telegram.send import TelegramSender

    logging.basicConfig(level=logging.WARNING)
    engine = make_engine(db_url, pool_size=2)
    sender: TelegramHttpSender | TelegramBatchSender | TelegramSender | None = None
    if api_base and mode == "ptb":
        sender = TelegramSender("BENCH:TOKEN", api_base=api_base)
    elif api_base and mode == "batch":
        sender = TelegramBatchSender(api_base, "BENCH:TOKEN", timeout=10.0)
    elif api_base:
        sender = TelegramHttpSender(api_base, "BENCH:TOKEN", timeout=10.0)
    config = OutboxConfig(batch_size=batch, lease_seconds=30.0, send_threads=threads, idle_sleep=0.02, limits=limits)
    settle_heap()  # as `gridbot worker` starts: the text catalogue parsed, start-up objects out of the collector's way
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


def run_once(
    db_url: str,
    workers: int,
    count: int,
    batch: int,
    threads: int,
    mode: str,
    limits: RateLimits = OFF,
    chats: int = 5000,
) -> dict[str, Any]:
    """Send `count` notifications to `chats` chats with `workers` processes; returns rate and repeat figures,
    and (with a fake API) how closely the arrivals kept the telegram limits."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE notification_attempts, notifications, job_leases, rate_slots RESTART IDENTITY"))
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    fake = FastFakeProcess().start() if mode != "null" else None
    api_base = fake.base_url if fake else None
    ready = [ctx.Event() for _ in range(workers)]
    cpu = ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker, args=(db_url, api_base, mode, f"bench{i}", stop, ready[i], cpu, batch, threads, limits)
        )
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
            "external_id": str(10_000 + i % chats),
            # Reminder cards, not new tasks: new tasks that the limits hold back are folded into one message
            # (backend/workers/outbox.py fold_held_back), and each row here is counted as it arrives.
            "kind": NoticeKind.task_reminder.value,
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
        **(arrival_figures(fake.arrivals) if fake else {}),
    }


def arrival_figures(arrivals: list[tuple[str, float]]) -> dict[str, Any]:
    """The most messages that arrived in any 1 s window, and the shortest gap between two to one chat."""
    times = sorted(at for _, at in arrivals)
    most, lo = 0, 0
    for hi, at in enumerate(times):
        while times[lo] <= at - 1.0:
            lo += 1
        most = max(most, hi - lo + 1)
    per_chat: dict[str, list[float]] = defaultdict(list)
    for chat, at in arrivals:
        per_chat[chat].append(at)
    gaps = [b - a for chat_times in per_chat.values() for a, b in pairwise(sorted(chat_times))]
    return {"max_in_1s": most, "min_chat_gap_s": round(min(gaps), 4) if gaps else None}


def limited_runs(db_url: str, args: argparse.Namespace, figures: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """The worker's sender with the shared rate limits on: what the booking costs, and whether the limits hold."""
    n = args.limited_workers
    per_chat = Rate(1.0, 1.0)
    # Generous channel limit, every message to its own chat: only the booking's own cost shows. Like the rows
    # without limits, at each worker count, the best reported (bookings of one channel queue on its row's lock,
    # so more workers need not be faster).
    roomy = RateLimits({"telegram": ChannelLimits(Rate(1_000_000.0, 1000.0), per_chat)})
    by_workers = {
        w: max(
            (run_once(db_url, w, args.count, args.batch, args.threads, "ptb", roomy, chats=args.count)
             for _ in range(args.repeat)),
            key=lambda r: r["per_second"],
        )
        for w in (int(w) for w in args.workers.split(","))
    }  # fmt: skip
    best = max(by_workers, key=lambda w: by_workers[w]["per_second"])
    cost = figures["limited_roomy"] = by_workers[best] | {
        "by_workers": {w: r["per_second"] for w, r in by_workers.items()}
    }
    shared = f"ptb, shared limits on (each chat 1/s), best worker count ({best})"
    rows: list[tuple[str, Any, str]] = [
        (f"{shared}: notifications/s", cost["per_second"], f"≥ {TARGET:,.0f}"),
        (f"{shared}: worker CPU ms per notification", cost["worker_cpu_ms_per_notification"], ""),
        (
            "ptb, shared limits on: notifications/s by worker count",
            ", ".join(f"{w}: {r['per_second']:,.0f}" for w, r in by_workers.items()),
            "",
        ),
    ]
    for rate in (float(r) for r in args.limited_rates.split(",")):
        # A channel limit below what the workers could do, 10 s of messages, one chat in six getting two.
        channel = Rate(rate, rate / 10 if rate > 300 else rate)
        count = int(rate * 10)
        tight = RateLimits({"telegram": ChannelLimits(channel, per_chat)})
        held = run_once(db_url, n, count, args.batch, args.threads, "ptb", tight, chats=count - count // 6)
        figures[f"limited_{rate:.0f}"] = held
        name = f"limits {rate:,.0f}/s (burst {channel.burst:,.0f}) and 1/s per chat, {n} workers"
        allowed = channel.max_in_window(1.0)
        rows += [
            (f"{name}: notifications/s", held["per_second"], f"{rate:,.0f} (+ the burst at the start)"),
            (f"{name}: most arrivals at the fake in any 1 s", held["max_in_1s"], f"≤ {allowed:,.0f}"),
            (f"{name}: shortest gap between two messages to one chat (s)", held["min_chat_gap_s"], "≥ 1"),
            (f"{name}: delivered / duplicates", f"{held['delivered']} / {held['duplicates']}", f"{count} / 0"),
        ]  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--count", type=int, default=6_000, help="notifications per run")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4, help="send threads per worker")
    parser.add_argument(
        "--modes",
        default="ptb,batch,http,null",
        help="ptb (the worker's sender), batch (a bare event-loop batch sender), http (a send thread per message), "
        "null (no I/O)",
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs per configuration; the best is reported")
    parser.add_argument(
        "--limited-workers", type=int, default=4, help="workers of the runs with the rate limits on (0: none)"
    )
    parser.add_argument(
        "--limited-rates", default="30,1000", help="channel-wide limits of the exactness runs (30: Telegram's own)"
    )
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
            target = f"≥ {TARGET:,.0f} (best worker count)" if mode == "ptb" else ""
            rows.append((f"{mode}, {n} worker(s): notifications/s", best["per_second"], target))
            rows.append(
                (f"{mode}, {n} worker(s): worker CPU ms per notification", best["worker_cpu_ms_per_notification"], "")
            )
            if mode != "null":
                rows.append(
                    (
                        f"{mode}, {n} worker(s): delivered / duplicates (worst run)",
                        f"{min(r['delivered'] for r in runs)} / {max(r['duplicates'] for r in runs)}",
                        f"{args.count} / 0",
                    )
                )
            figures[f"{mode}_workers_{n}"] = best
    if args.limited_workers:
        rows += limited_runs(db_url, args, figures)
    load = (load_before, os.getloadavg()[0])
    figures["load_average"] = load
    notes = (
        f"PostgreSQL database `gridbot_bench`, rate limits off except in the 'limits' rows, batch {args.batch}, "
        f"{args.threads} send threads per worker, {args.count} notifications per run, best of {args.repeat} runs. "
        "`ptb`: the sender `gridbot worker` runs (PTB's Bot over aiohttp, each claimed batch at once, chats in "
        "parallel and each chat in order; a task card rendered from the catalogue, with its buttons); `batch`: a "
        "bare batch sender (one event loop, up to 32 kept-alive connections, httptools, a plain text); `http`: "
        "the httpcore sender, one message per send thread; all to a fake Bot API (uvloop + httptools, in its own "
        "process); `null`: a sender without I/O, i.e. the outbox machinery alone (claim, lease, record). The "
        f"fake, PostgreSQL and the workers share this machine's {os.cpu_count()} cores (1-minute load average "
        f"{load[0]:.1f} before, {load[1]:.1f} after: other jobs were running). 'limits on': the shared limits "
        "(backend/workers/sharedlimits.py, booked in the database per claimed batch); first with a channel limit "
        "far above the workers' pace and each message to its own chat (the cost of booking; at each worker count, "
        f"best of {args.repeat}), then, with {args.limited_workers} workers, for each "
        "channel limit 10 s worth of messages, one chat in six getting two, arrival times taken by the fake API."
    )
    report("outbox", "Outbox worker throughput", rows, as_json=args.json, figures=figures, notes=notes)


if __name__ == "__main__":
    main()

"""Overload with the durable inbox (issue 16): does goodput hold at 5× what the processor can turn, and is every
acknowledged report turned exactly once?

    python -m bench.overload [--seconds 20] [--factor 5] [--concurrency 200] [--workers 2] [--serve-nice 10] [--json]

On PostgreSQL (GRIDBOT_TEST_POSTGRES_URL names the server; the run uses its own database `gridbot_overload`):
uvicorn with --workers API processes stores and acknowledges, at a lower CPU priority (--serve-nice, as
docs/DEPLOYMENT.md advises where they share cores with the turns); one `gridbot process` runs the turns.

1. Peak: a burst of reports is acknowledged, then the processor works the backlog off alone; its rate is the
   peak goodput (turns committed per second; it cannot go faster, whatever arrives).
2. Overload: reports arrive on an open schedule at --factor × that peak for --seconds, from --concurrency
   senders; the turns committed during that window give the goodput under overload.
3. Drain, then count: every acknowledged report must have exactly one finished inbox row (lost: acknowledged
   but not turned; parked: given up with an error, listed for the admins) and at most one stored turn
   (doubled: a platform message id answered twice).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bench._report import report
from bench.webhook import PG_DEFAULT, load, pct, prepare_database, start_processor, start_server

OVERLOAD_DB = "gridbot_overload"


def counts(engine: Engine) -> dict[str, int]:
    """Inbox rows by status, and platform message ids with more than one stored turn."""
    from backend.db.models import InboundMessage, InboxMessage

    with engine.connect() as conn:
        by_status = dict(conn.execute(select(InboxMessage.status, func.count()).group_by(InboxMessage.status)).all())
        doubled = conn.scalar(
            select(func.count()).select_from(
                select(InboundMessage.channel, InboundMessage.message_key)
                .group_by(InboundMessage.channel, InboundMessage.message_key)
                .having(func.count() > 1)
                .subquery()
            )
        )
    return {"done": int(by_status.get("done", 0)), "pending": int(by_status.get("pending", 0)),
            "parked": int(by_status.get("parked", 0)), "doubled": int(doubled or 0)}  # fmt: skip


def done_count(engine: Engine) -> int:
    """Inbox rows turned so far."""
    from backend.db.models import InboxMessage

    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).where(InboxMessage.status == "done")) or 0)


def server_autovacuum(engine: Engine) -> bool:
    """Whether the database server runs autovacuum (this machine's does not)."""
    with engine.connect() as conn:
        return conn.exec_driver_sql("SHOW autovacuum").scalar() == "on"


def wait_drained(engine: Engine, timeout: float) -> float:
    """Seconds until no inbox row is pending (or the timeout). It asks only whether one is left (`inbox.backlog`
    up to 1): `counts` reads both whole tables, and asked every moment it took PostgreSQL CPU from the processor
    it measures."""
    from backend.db.session import make_session_factory
    from backend.usecases import inbox

    factory = make_session_factory(engine)
    started = time.monotonic()
    while time.monotonic() - started < timeout and inbox.backlog(factory, up_to=1):
        time.sleep(0.05)
    return time.monotonic() - started


def run(args: argparse.Namespace, url: str, telegram_base: str) -> dict[str, Any]:
    """The three phases on a fresh database; the figures."""
    from backend.db.session import make_engine

    workdir = Path(tempfile.mkdtemp(prefix="gridbot-overload-"))
    prepare_database(url, workdir)
    engine = make_engine(url)
    server, base = start_server(url, workdir, telegram_base, args.workers, inbox=True, nice=args.serve_nice)
    processor = start_processor(url, workdir, telegram_base)
    autovacuum = server_autovacuum(engine)
    try:
        offset = 0
        warm = asyncio.run(load(base, args.warmup, min(args.concurrency, args.warmup), args.telegram_share, offset))
        offset += args.warmup
        wait_drained(engine, 120)
        # 1. Peak: a burst, then the processor alone on the backlog.
        burst = asyncio.run(load(base, args.burst, args.concurrency, args.telegram_share, offset))
        offset += args.burst
        before, started = done_count(engine), time.monotonic()
        wait_drained(engine, 600)
        peak_turns, peak_seconds = done_count(engine) - before, time.monotonic() - started
        peak = peak_turns / peak_seconds
        # 2. Overload: an open schedule at factor × peak.
        rate = args.factor * peak
        total = int(rate * args.seconds)
        before, started = done_count(engine), time.monotonic()
        over = asyncio.run(load(base, total, args.concurrency, args.telegram_share, offset, rate=rate))
        window = time.monotonic() - started
        goodput = (done_count(engine) - before) / window
        # 3. Drain and count.
        drain_s = wait_drained(engine, 900)
        final = counts(engine)
    finally:
        server.terminate()
        processor.terminate()
        server.wait(timeout=30)
        processor.wait(timeout=30)
        engine.dispose()
    acknowledged = sum(len(r.all()) for r in (warm, burst, over))
    return {
        "server_autovacuum": autovacuum,
        "peak_turns_per_s": peak,
        "peak_turns": peak_turns,
        "peak_seconds": peak_seconds,
        "overload_rate_per_s": rate,
        "overload_sent": total,
        "overload_acknowledged": len(over.all()),
        "overload_errors": over.errors,
        "overload_error_kinds": dict(over.error_kinds),
        "overload_ack_p50_ms": pct(over.all(), 0.50),
        "overload_ack_p99_ms": pct(over.all(), 0.99),
        "overload_busy_notices": over.replied,
        "goodput_turns_per_s": goodput,
        "goodput_share_of_peak": goodput / peak if peak else 0.0,
        "drain_s": drain_s,
        "acknowledged": acknowledged,
        "done": final["done"],
        "parked": final["parked"],
        "left_pending": final["pending"],
        "lost": acknowledged - final["done"] - final["parked"],
        "doubled": final["doubled"],
    }


def main() -> None:
    """Run and report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the overload window")
    parser.add_argument("--factor", type=float, default=5.0, help="arrival rate as a multiple of the peak goodput")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="uvicorn worker processes")
    parser.add_argument(
        "--serve-nice",
        type=int,
        default=10,
        help="niceness of the API processes, so the turns go first on shared cores (docs/DEPLOYMENT.md); 0 for none",
    )
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--burst", type=int, default=5000, help="reports of the peak phase's burst")
    parser.add_argument("--telegram-share", type=float, default=0.25)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_avg = os.getloadavg()[0]

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.fakes.telegram import FakeTelegramAPI

    url = os.environ.get("GRIDBOT_TEST_POSTGRES_URL", PG_DEFAULT).rsplit("/", 1)[0] + "/" + OVERLOAD_DB
    with FakeTelegramAPI() as fake:
        r = run(args, url, fake.base_url)
    errors = f"{r['overload_errors']}" + (
        f" ({', '.join(f'{k}: {n}' for k, n in r['overload_error_kinds'].items())})" if r["overload_errors"] else ""
    )
    rows: list[tuple[str, Any, str]] = [
        ("peak goodput: turns committed per second, the processor alone on a backlog", r["peak_turns_per_s"], ""),
        ("peak: turns and seconds it was measured over", f"{r['peak_turns']} / {r['peak_seconds']:.1f}", ""),
        (f"arrival rate in the overload window ({args.factor:g}× peak, open schedule)", r["overload_rate_per_s"], ""),
        ("goodput during the overload: turns committed per second", r["goodput_turns_per_s"], ""),
        ("goodput under overload / peak", f"{r['goodput_share_of_peak']:.1%}", "≥ 90 %"),
        (
            "overload: reports sent / acknowledged / refused or failed",
            f"{r['overload_sent']} / {r['overload_acknowledged']} / {errors}",
            "",
        ),
        (
            "overload: acknowledgement p50 / p99 (ms)",
            f"{r['overload_ack_p50_ms']:.0f} / {r['overload_ack_p99_ms']:.0f}",
            "",
        ),
        ("overload: WeChat answered at once with the busy notice", r["overload_busy_notices"], ""),
        ("seconds to drain the backlog afterwards", r["drain_s"], ""),
        (
            "reports acknowledged in the whole run / turned / parked",
            f"{r['acknowledged']} / {r['done']} / {r['parked']}",
            "",
        ),
        ("lost (acknowledged, never turned nor parked)", r["lost"], "0"),
        ("doubled (a platform message id with two stored turns)", r["doubled"], "0"),
    ]  # fmt: skip
    notes = (
        f"PostgreSQL; uvicorn with {args.workers} worker process(es) storing and acknowledging"
        + (f" under `nice -n {args.serve_nice}`" if args.serve_nice > 0 else "")
        + " (durable inbox on, "
        "GRIDBOT_INBOX_SERVE_PROCESSORS=0 and GRIDBOT_INBOX_REPLY_WAIT_SECONDS=0, so WeChat answers `success` "
        "at once, or the busy notice past the "
        "backlog bound, and every reply goes through the outbox); one `gridbot process` running the turns; "
        f"{args.concurrency} senders, {round(args.telegram_share * 100)} % Telegram updates, the rest signed "
        "plain-mode WeChat XML; every report is a new resident's first message. Load generator, fake Bot API, "
        "the database and the service share the machine's "
        f"{os.cpu_count()} cores. The database starts empty; this server's autovacuum is "
        f"{'on' if r['server_autovacuum'] else 'off: nothing is vacuumed or analyzed during the run'}. "
        f"Load average when the run started: {load_avg:.1f}."
    )
    report(
        "overload",
        f"Overload with the durable inbox: {args.factor:g}× the peak (bench/overload)",
        rows,
        as_json=args.json,
        figures=r,
        notes=notes,
        command="python -m bench.overload " + " ".join(sys.argv[1:]),
    )


if __name__ == "__main__":
    main()

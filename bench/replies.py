"""Reply latency at the platform (issue 16): residents report at a fixed rate; how long until the bot's reply
is visible at the fake platform, through the whole deployment?

    python -m bench.replies [--rates 250,500] [--seconds 10] [--concurrency 200] [--telegram-share 0.25]
                            [--workers 2] [--reply-wait 4] [--rate-limits off] [--json]

On PostgreSQL (GRIDBOT_TEST_POSTGRES_URL names the server; the run uses its own database `gridbot_replies`):
uvicorn with --workers API processes stores and acknowledges (durable inbox on), one `gridbot process` runs
the turns, one `gridbot worker` sends the outbox to the fake WeChat and Telegram APIs, which record when each
message arrives. Every report is a new resident's first message, sent on an open schedule (report n at
n / rate seconds); its reply is visible when:
- WeChat: the webhook's response carries it (the passive reply, when the turn finished within --reply-wait),
  else when the customer-service message reaches the fake WeChat API;
- Telegram: when sendMessage reaches the fake Bot API.
The time counts from the scheduled send, so a service falling behind is not hidden by senders that wait.
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

from bench._loadgen import Inbox, InboxTelegramAPI, InboxWeChatAPI
from bench._report import report
from bench.load import RATE_LIMITS_NOTE, rate_limits_env
from bench.webhook import (
    PG_DEFAULT,
    Run,
    cpu_seconds,
    load,
    pct,
    prepare_database,
    start_processor,
    start_server,
    start_worker,
)

REPLIES_DB = "gridbot_replies"
TARGET_RATE = 500.0


def visible_after(run: Run, inbox: Inbox, timeout: float) -> tuple[list[float], int]:
    """Seconds from each acknowledged report's scheduled send to its reply at the platform, waiting up to
    `timeout` for the last ones; and how many had no reply by then."""
    deadline = time.monotonic() + timeout
    while True:
        seen: list[float] = []
        for user, scheduled, passive in run.sent:
            if passive is not None:
                seen.append(passive - scheduled)
            elif arrived := inbox.since(user, 0):
                seen.append(arrived[0].at - scheduled)
        missing = len(run.sent) - len(seen)
        if not missing or time.monotonic() > deadline:
            return seen, missing
        time.sleep(0.2)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """One deployment on a fresh database: a warm-up, then each rate in turn, every reply awaited before the next."""
    server_url = os.environ.get("GRIDBOT_TEST_POSTGRES_URL", PG_DEFAULT)
    url = server_url.rsplit("/", 1)[0] + "/" + REPLIES_DB
    workdir = Path(tempfile.mkdtemp(prefix="gridbot-replies-"))
    prepare_database(url, workdir)
    inbox = Inbox()
    wechat_api, telegram_api = InboxWeChatAPI(inbox), InboxTelegramAPI(inbox)
    wechat_api.start()
    telegram_api.start()
    env = {
        "GRIDBOT_WECHAT_APP_ID": "wxreplies0000001",
        "GRIDBOT_WECHAT_APP_SECRET": "replies-secret",
        "GRIDBOT_WECHAT_API_BASE": wechat_api.api_base,
        "GRIDBOT_INBOX_SERVE_PROCESSORS": "0",
        "GRIDBOT_INBOX_REPLY_WAIT_SECONDS": str(args.reply_wait),
        **rate_limits_env(args.rate_limits),
    }
    procs = []
    try:
        server, base = start_server(
            url, workdir, telegram_api.base_url, args.workers, inbox=True, nice=args.serve_nice, extra_env=env
        )
        procs = [
            server,
            start_processor(url, workdir, telegram_api.base_url, env),
            start_worker(url, workdir, telegram_api.base_url, env),
        ]
        warm = asyncio.run(load(base, args.warmup, min(args.concurrency, args.warmup), args.telegram_share, 0))
        visible_after(warm, inbox, args.timeout)
        results, offset = [], args.warmup
        for rate in [float(r) for r in args.rates.split(",") if r]:
            count = int(rate * args.seconds)
            cpu_before, own_before = [cpu_seconds(p.pid) for p in procs], time.process_time()
            sent = asyncio.run(load(base, count, args.concurrency, args.telegram_share, offset, rate=rate))
            offset += count
            seen, missing = visible_after(sent, inbox, args.timeout)
            cpu = [cpu_seconds(p.pid) - before for p, before in zip(procs, cpu_before, strict=True)]
            cpu.append(time.process_time() - own_before)
            results.append(
                {
                    "rate": rate,
                    "achieved_per_s": len(sent.all()) / sent.wall if sent.wall else 0.0,
                    "acknowledged": len(sent.sent),
                    "errors": sent.errors,
                    "ack_p50_ms": pct(sent.all(), 0.50),
                    "ack_p99_ms": pct(sent.all(), 0.99),
                    "passive": sum(1 for _, _, passive in sent.sent if passive is not None),
                    "visible_p50_ms": pct(seen, 0.50),
                    "visible_p95_ms": pct(seen, 0.95),
                    "visible_p99_ms": pct(seen, 0.99),
                    "within_1s": sum(1 for s in seen if s < 1.0),
                    "missing": missing,
                    # CPU ms per report from the first send to the last reply: serve, process, worker, this process
                    # (load generator and fake platforms).
                    "cpu_ms_per_report": [c * 1000 / count for c in cpu],
                }
            )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        wechat_api.stop()
        telegram_api.stop()
    return {"runs": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="250,500", help="reports per second, one run each")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--telegram-share", type=float, default=0.25)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--serve-nice", type=int, default=10, help="niceness of the API processes")
    parser.add_argument("--reply-wait", type=float, default=4.0, help="GRIDBOT_INBOX_REPLY_WAIT_SECONDS")
    parser.add_argument("--rate-limits", default="off", help="outbox send limits: off or default (see bench.load)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the last replies")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_avg = os.getloadavg()[0]
    figures = run(args)
    rows: list[tuple[str, Any, str]] = []
    for r in figures["runs"]:
        at = f"at {r['rate']:.0f}/s"
        target = "< 1 s" if r["rate"] == TARGET_RATE else ""
        rows += [
            (
                f"{at}: achieved reports/s, acknowledged, errors",
                f"{r['achieved_per_s']:.0f}, {r['acknowledged']}, {r['errors']}",
                "",
            ),  # fmt: skip
            (f"{at}: acknowledgement p50 / p99 (ms)", f"{r['ack_p50_ms']:.0f} / {r['ack_p99_ms']:.0f}", ""),
            (
                f"{at}: reply visible at the platform p50 / p95 (ms)",
                f"{r['visible_p50_ms']:.0f} / {r['visible_p95_ms']:.0f}",
                "",
            ),  # fmt: skip
            (f"{at}: reply visible at the platform p99 (ms)", r["visible_p99_ms"], target),
            (f"{at}: replies within 1 s", f"{r['within_1s']} of {r['acknowledged']}", ""),
            (
                f"{at}: WeChat passive replies / the rest pushed through the outbox",
                f"{r['passive']} / {r['acknowledged'] - r['passive']}",
                "",
            ),  # fmt: skip
            (f"{at}: no reply {args.timeout:.0f} s after the last report", r["missing"], "0"),
            (
                f"{at}: CPU ms per report: serve / process / worker / load generator and fakes",
                " / ".join(f"{c:.2f}" for c in r["cpu_ms_per_report"]),
                "",
            ),  # fmt: skip
        ]
    limits = RATE_LIMITS_NOTE.get(args.rate_limits, args.rate_limits)
    notes = (
        f"PostgreSQL; `gridbot serve --workers {args.workers}` under `nice -n {args.serve_nice}` (durable inbox on, "
        f"GRIDBOT_INBOX_SERVE_PROCESSORS=0, GRIDBOT_INBOX_REPLY_WAIT_SECONDS={args.reply_wait:g}: a WeChat "
        "webhook waits that long, through PostgreSQL, for the processor's reply and answers passively, else "
        "answers `success` and the reply is pushed), one `gridbot process`, one `gridbot worker` (outbox rate "
        f"limits: {limits}). {args.seconds:g} s per rate, {args.concurrency} senders on an open schedule, "
        f"{round(args.telegram_share * 100)} % Telegram updates, the rest signed plain-mode WeChat XML; every "
        "report is a new resident's first message (classify, place, urgency, duplicates; most get a question "
        "back, the urgent ones a ticket). Latency from the scheduled send to the reply's arrival at the fake "
        "platform (the passive reply: the webhook response). Load generator, fake platforms, database and "
        f"service share the machine's {os.cpu_count()} cores. Load average when the run started: {load_avg:.1f}."
    )
    report(
        "replies",
        "Reply visible at the platform through the durable inbox (bench/replies)",
        rows,
        as_json=args.json,
        figures={**figures, "load_average": load_avg},
        notes=notes,
        command=" ".join(["python -m bench.replies", *sys.argv[1:]]),
    )


if __name__ == "__main__":
    main()

"""A worker process for the crash tests: `python -m tests.workers.worker_entry DB_URL API_BASE WORKER_ID`."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from backend.db.session import make_engine, make_session_factory
from backend.workers.outbox import OutboxConfig, run_worker
from backend.workers.ratelimit import RateLimits
from bot.telegram.http_sender import TelegramHttpSender


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db_url")
    parser.add_argument("api_base")
    parser.add_argument("worker_id")
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    engine = make_engine(args.db_url)
    sender = TelegramHttpSender(args.api_base, "TEST:TOKEN", timeout=5.0)
    config = OutboxConfig(
        batch_size=args.batch,
        lease_seconds=args.lease,
        send_threads=args.threads,
        idle_sleep=0.05,
        max_rate_wait=0.5,
        limits=RateLimits(enabled=False),
    )
    with engine.connect():
        pass
    print("ready", flush=True)  # the test waits for this before it counts on the worker
    try:
        run_worker(
            make_session_factory(engine), {"telegram": sender}, worker_id=args.worker_id, stop_event=stop, config=config
        )
    finally:
        sender.close()
        engine.dispose()


if __name__ == "__main__":
    main()

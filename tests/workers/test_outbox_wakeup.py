"""On PostgreSQL an idle worker sends a newly queued notification at once (LISTEN/NOTIFY), not after its idle
sleep; when the LISTEN connection is lost it polls, and it listens again once the database answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.orm import Session, sessionmaker

from backend.db.session import make_engine, make_session_factory
from backend.workers.outbox import OutboxConfig, run_worker
from backend.workers.ratelimit import RateLimits
from backend.workers.wakeup import OUTBOX_CHANNEL, RECONNECT_SECONDS
from bot.telegram.http_sender import TelegramHttpSender
from tests.workers.conftest import add_notifications
from tests.workers.fake_telegram import FakeTelegram

IDLE_SLEEP = 3.0


@contextmanager
def idle_worker(url: str, fake_tg: FakeTelegram) -> Iterator[sessionmaker[Session]]:
    """A worker with a long idle sleep and no rate limits, running (and idle) until the block ends."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    sender = TelegramHttpSender(fake_tg.base_url, "TEST:TOKEN", timeout=2.0)
    config = OutboxConfig(idle_sleep=IDLE_SLEEP, limits=RateLimits(enabled=False))
    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker,
        args=(factory, {"telegram": sender}),
        kwargs={"worker_id": "w", "stop_event": stop, "config": config},
    )
    worker.start()
    try:
        assert wait_for(lambda: listeners(url) == 1, 5.0)
        yield factory
    finally:
        stop.set()
        worker.join()
        sender.close()
        engine.dispose()


def listeners(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = %s",
            (f"LISTEN {OUTBOX_CHANNEL}",),
        ).fetchone()
    return int(row[0]) if row else 0


def wait_for(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


def seconds_to_deliver(factory: sessionmaker[Session], fake_tg: FakeTelegram, prefix: str) -> float:
    """Queue one notification and wait for it at the fake Bot API."""
    before = fake_tg.delivered_count
    queued = time.monotonic()
    add_notifications(factory, 1, prefix=prefix)
    assert wait_for(lambda: fake_tg.delivered_count > before, 2 * IDLE_SLEEP + RECONNECT_SECONDS)
    return time.monotonic() - queued


def test_an_idle_worker_sends_a_queued_notification_at_once(pg_only_url: str, fake_tg: FakeTelegram) -> None:
    with idle_worker(pg_only_url, fake_tg) as factory:
        time.sleep(0.3)  # well inside the idle sleep
        assert seconds_to_deliver(factory, fake_tg, "a") < 0.5 < IDLE_SLEEP
        assert seconds_to_deliver(factory, fake_tg, "b") < 0.5


def test_a_lost_wake_up_connection_falls_back_to_the_poll_and_listens_again(
    pg_only_url: str, fake_tg: FakeTelegram
) -> None:
    with idle_worker(pg_only_url, fake_tg) as factory:
        with psycopg.connect(pg_only_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query = %s",
                (f"LISTEN {OUTBOX_CHANNEL}",),
            )
        assert wait_for(lambda: listeners(pg_only_url) == 0, 2.0)
        assert seconds_to_deliver(factory, fake_tg, "polled") < IDLE_SLEEP + 1.0  # the poll still finds it
        assert wait_for(lambda: listeners(pg_only_url) == 1, RECONNECT_SECONDS + 2 * IDLE_SLEEP)
        time.sleep(0.3)
        assert seconds_to_deliver(factory, fake_tg, "woken") < 0.5

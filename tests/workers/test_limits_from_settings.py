"""The outbox rate limits set in the environment reach `gridbot worker`'s worker, as the fake Bot API sees it."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy.orm import Session, sessionmaker

from backend.settings import Settings
from backend.texts import catalogue
from backend.usecases.operations import open_backend, run_outbox_worker
from bot.adapters import build_senders, close_senders
from tests.workers.conftest import add_notifications
from tests.workers.fake_telegram import FakeTelegram

MESSAGES = 5  # all to one chat: at the default 1 message a second per chat they need at least 4 s
JITTER = 0.25  # the first send opens the connection, the timer thread wakes late on a busy machine


def arrival_times(
    db_url: str, fake_tg: FakeTelegram, factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> list[float]:
    """Run the worker the CLI runs, built from the environment, until the queued messages arrived."""
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("GRIDBOT_TELEGRAM_TOKEN", "TEST:TOKEN")
    monkeypatch.setenv("GRIDBOT_TELEGRAM_API_BASE", fake_tg.base_url)
    settings = Settings()
    add_notifications(factory, MESSAGES, chats=1)
    backend = open_backend(settings, load_classifier=False)
    senders = build_senders(settings)
    catalogue()  # as `gridbot worker` starts (bot.app.settle_heap): parsed before the first batch, not in it
    stop = threading.Event()
    worker = threading.Thread(
        target=run_outbox_worker,
        args=(backend, senders),
        kwargs={"worker_id": "w", "stop_event": stop},
    )
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while fake_tg.delivered_count < MESSAGES and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join()
        close_senders(senders)
        backend.session_factory.kw["bind"].dispose()
    return sorted(call.at for call in fake_tg.delivered())


def test_a_per_chat_rate_from_the_environment_paces_the_worker(
    db_url: str, fake_tg: FakeTelegram, factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The channel limit off as well (null from the environment): a send that a busy machine starts more than the
    # channel's allowance late would go back to be booked again, and the pace measured would be the machine's.
    monkeypatch.setenv("GRIDBOT_WORKER_RATE_LIMITS", '{"telegram": {"recipient": [2, 1], "channel": null}}')
    times = arrival_times(db_url, fake_tg, factory, monkeypatch)
    assert len(times) == MESSAGES
    # Two a second: the five take 2 s (not none, as without limits; not 4 s or more, as at the default).
    assert 2.0 - 2 * JITTER < times[-1] - times[0] < (MESSAGES - 1) * 1.0 - 2 * JITTER


def test_rate_limits_switched_off_in_the_environment_send_at_once(
    db_url: str, fake_tg: FakeTelegram, factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDBOT_WORKER_RATE_LIMITS_ENABLED", "false")
    times = arrival_times(db_url, fake_tg, factory, monkeypatch)
    assert len(times) == MESSAGES
    assert times[-1] - times[0] < 1.0

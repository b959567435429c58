"""kill -9 of an inbox processor mid-batch loses nothing and doubles nothing: a second processor finishes the
batch (the chatbot's per-message record makes a repeated turn a no-op), every message gets its one reply."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.cityconfig import CityConfig
from backend.db.migrate import upgrade
from backend.db.models import InboundMessage, InboxMessage, Notification
from backend.db.session import make_engine, make_session_factory
from bot.inbox import store_inbound
from bot.messages import Inbound, InboundKind

ROOT = Path(__file__).resolve().parents[2]
SENDERS = 40
PER_SENDER = 3


@pytest.fixture
def file_db(tmp_path: Path, city: CityConfig) -> Iterator[tuple[str, sessionmaker[Session]]]:
    """A SQLite file of the test's own (the processor is another process), with the demo city."""
    from backend.services.reference import sync_reference, sync_staff

    url = f"sqlite:///{tmp_path / 'inbox.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as session:
        sync_reference(session, city)
        sync_staff(session, city, demo_password=None)
        session.commit()
    yield url, factory
    engine.dispose()


def start(url: str, model_root: Path, data_dir: Path, name: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.inbox.processor_entry", url, str(model_root), str(data_dir), name],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    return proc


def count(factory: sessionmaker[Session], model: type, *where: object) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_kill_minus_9_mid_batch_loses_and_doubles_nothing(
    file_db: tuple[str, sessionmaker[Session]], model_root: Path, tmp_path: Path
) -> None:
    url, factory = file_db
    total = SENDERS * PER_SENDER
    for n in range(PER_SENDER):
        for s in range(SENDERS):
            store_inbound(
                factory,
                Inbound(
                    channel="wechat" if s % 2 else "telegram",  # WeChat's messages wait in the same inbox
                    user_id=str(5000 + s),
                    kind=InboundKind.text,
                    text="/start",
                    message_id=f"{n}-{s}",
                ),
            )
    first = start(url, model_root, tmp_path / "var", "p1")
    assert first.stdout is not None
    for _ in range(25):  # well into its first batch of 20 … and the next one
        assert first.stdout.readline().startswith(b"turn")
    first.kill()  # SIGKILL: no cleanup, its leases stay behind
    first.wait()
    first.stdout.close()
    assert 0 < count(factory, InboxMessage, InboxMessage.status == "done") < total
    second = start(url, model_root, tmp_path / "var", "p2")
    try:
        deadline = time.monotonic() + 120
        while count(factory, InboxMessage, InboxMessage.status == "done") < total:
            assert time.monotonic() < deadline, "the second processor did not finish the inbox"
            time.sleep(0.2)
    finally:
        second.kill()
        second.wait()
        assert second.stdout is not None
        second.stdout.close()
    assert count(factory, InboxMessage, InboxMessage.status != "done") == 0
    # One turn record and one welcome per message: nothing lost, nothing doubled.
    for channel in ("telegram", "wechat"):
        assert count(factory, InboundMessage, InboundMessage.channel == channel) == total // 2
        assert count(factory, Notification, Notification.channel == channel) == total // 2

"""Outbox test fixtures: a migrated database (SQLite always, PostgreSQL when configured), the fake API."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from backend.db.migrate import upgrade
from backend.db.models import Notification
from backend.db.session import make_engine, make_session_factory, transaction
from backend.domain.notifications import NoticeKind
from tests.workers.fake_telegram import FakeTelegram

PG_ENV = "GRIDBOT_TEST_POSTGRES_URL"
_TABLES = "notification_attempts, notifications, job_leases, rate_slots, channel_identities, people"


def postgres_workers_url() -> str | None:
    """A database of our own next to the test database (other tests reset that one), created and migrated."""
    base = os.environ.get(PG_ENV)
    if not base:
        return None
    url = make_url(base)
    name = f"{url.database or 'test'}_workers"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_url() -> str:
    url = postgres_workers_url()
    if url is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "gridbot.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A freshly migrated, empty outbox on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "gridbot.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("pg_url")
    _truncate(url)
    yield url


@pytest.fixture
def pg_only_url(pg_url: str) -> str:
    """The PostgreSQL outbox, emptied."""
    _truncate(pg_url)
    return pg_url


def _truncate(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def fake_tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


def add_notifications(
    factory: sessionmaker[Session],
    count: int,
    *,
    chats: int | None = None,
    channel: str = "telegram",
    prefix: str = "n",
    kind: NoticeKind = NoticeKind.task_reminder,
) -> list[int]:
    """Queue `count` telegram notifications (text '<kind> <prefix><i>'), round-robin over `chats` chats.

    Reminders by default: new tasks that a limit or a flood wait holds back are folded into one message
    (backend/workers/outbox.py fold_held_back), which tests of delivery itself must not depend on."""
    chats = chats or count
    with transaction(factory) as session:
        rows = [
            Notification(
                key=f"{prefix}{i}",
                channel=channel,
                external_id=str(1000 + i % chats),
                kind=kind,
                payload={"number": f"{prefix}{i}"},
            )
            for i in range(count)
        ]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]

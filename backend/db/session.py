"""Engines and sessions. Data functions never commit; a service owns the transaction."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, create_engine, event, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

import backend.db.rollups  # noqa: F401  (registers the listener that keeps the statistics rollups current)

# How long a PostgreSQL connection keeps the plans it has cached (see _replan_aged_connections). A minute was
# too long for a burst on a new city: a batch's identity lookup planned when the residents' table was small
# still read it whole (48 ms a batch) most of that minute. Making the plans again costs well under a millisecond
# a statement.
PLAN_MAX_AGE_SECONDS = 15.0


def make_engine(url: str, *, plan_max_age: float = PLAN_MAX_AGE_SECONDS, **kwargs: Any) -> Engine:
    """Create an engine with the right per-backend options (SQLite: WAL, FKs, busy timeout; PostgreSQL: no JIT,
    cached plans renewed every `plan_max_age` seconds)."""
    if url.startswith("sqlite"):
        if ":///" in url and not url.endswith(":memory:"):
            Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    # JIT compilation costs more than it saves on our short OLTP and dashboard queries.
    engine = create_engine(url, connect_args={"options": "-c jit=off"}, **kwargs)
    _replan_aged_connections(engine, plan_max_age)
    return engine


def _replan_aged_connections(engine: Engine, max_age: float) -> None:
    """DISCARD PLANS on a pooled connection whose cached plans are older than max_age, as it is checked out.

    A connection keeps the plans of its prepared statements (psycopg prepares a statement on its fifth use) and
    of its foreign-key checks until the tables' statistics change. A table that grew since, with no ANALYZE in
    between (a new city's first busy hour; a server whose autovacuum is off or not yet round), went on being
    read as when it was small: under a burst the turns' identity lookup, a claim's lease and each new
    resident's foreign-key check read whole tables, ever longer. Plans made again see the tables' sizes now."""

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        now = time.monotonic()
        planned = record.info.setdefault("plans_since", now)
        if now - planned > max_age:
            try:
                dbapi_conn.execute("DISCARD PLANS")
                dbapi_conn.commit()
            except Exception as error:  # a dead connection: the pool replaces it and checks out again
                raise DisconnectionError(str(error)) from error
            record.info["plans_since"] = now


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; take it over as the dialect docs advise.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory that keeps loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def upsert_insert(session: Session) -> Callable[..., Any]:
    """`insert` of the session's dialect, which has ON CONFLICT (PostgreSQL and SQLite alike)."""
    return dialect_insert(session.get_bind().dialect.name)


def dialect_insert(dialect: str) -> Callable[..., Any]:
    """`insert` with ON CONFLICT for a dialect name ("postgresql" or "sqlite")."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def among_locked(dialect: str, id_column: ColumnElement[int], locking: Select[Any]) -> ColumnElement[bool]:
    """The rows whose id the locking subquery (SELECT id … FOR UPDATE SKIP LOCKED) picks: for an UPDATE that
    leases them. On PostgreSQL `= ANY(ARRAY(subquery))` runs the subquery once and updates through the primary
    key; `IN (subquery)` lets the planner hash-join against a scan of the whole table."""
    if dialect == "postgresql":
        return id_column == func.any(func.array(locking.scalar_subquery()))
    return id_column.in_(locking.scalar_subquery())

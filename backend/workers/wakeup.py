"""Waking an idle outbox worker when notifications are queued: PostgreSQL LISTEN, with the timed poll kept.

Migration 0011 has every INSERT into `notifications` NOTIFY `OUTBOX_CHANNEL` (a statement trigger: the signal
goes out when the inserting transaction commits, and not at all if it rolls back), so a reply queued by a chat
turn is claimed at once instead of after the rest of the worker's idle sleep. An idle worker waits for that
signal on a connection of its own for at most idle_sleep, and so still finds the rows no insert announces (due
later: retries, rate-limit deferrals, requeued dead letters). On SQLite, or while that connection is down, the
worker just sleeps idle_sleep, as before.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from psycopg.rows import TupleRow
from sqlalchemy import Engine

logger = logging.getLogger(__name__)

OUTBOX_CHANNEL = "gridbot_outbox"  # the name migration 0011's trigger notifies
RECONNECT_SECONDS = 5.0


def pg_conninfo(engine: Engine) -> str | None:
    """The libpq connection string of a PostgreSQL engine (None for another database)."""
    if engine.dialect.name != "postgresql":
        return None
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def listen_connection(conninfo: str, channel: str) -> psycopg.Connection[TupleRow]:
    """A new autocommit connection that LISTENs on channel (close it, or use it in a with block)."""
    connection = psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
    try:
        connection.execute(f"LISTEN {channel}")
    except psycopg.Error:
        connection.close()
        raise
    return connection


class OutboxWakeup:
    """Waits for queued notifications (PostgreSQL LISTEN) or a timeout; a plain sleep elsewhere."""

    def __init__(self, engine: Engine) -> None:
        self._conninfo = pg_conninfo(engine)
        self._listener: psycopg.Connection[TupleRow] | None = None
        self._retry_at = 0.0

    def wait(self, stop_event: threading.Event, timeout: float) -> bool:
        """Return when notifications were queued (True), stop_event is set (noticed within timeout) or timeout
        passed (False)."""
        listener = self._connect()
        if listener is None:
            stop_event.wait(timeout)
            return False
        try:
            return any(True for _ in listener.notifies(timeout=timeout, stop_after=1))
        except psycopg.Error as exc:
            logger.warning("outbox wake-up connection lost (%s); polling until it is back", type(exc).__name__)
            self._drop()
            stop_event.wait(timeout)
            return False

    def close(self) -> None:
        """Close the LISTEN connection."""
        self._drop()

    def __enter__(self) -> OutboxWakeup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> psycopg.Connection[TupleRow] | None:
        if self._listener is not None or self._conninfo is None or time.monotonic() < self._retry_at:
            return self._listener
        try:
            listener = listen_connection(self._conninfo, OUTBOX_CHANNEL)
        except psycopg.Error as exc:
            logger.warning("outbox wake-up: cannot LISTEN (%s); polling", type(exc).__name__)
            self._retry_at = time.monotonic() + RECONNECT_SECONDS
            return None
        self._listener = listener
        return listener

    def _drop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._retry_at = time.monotonic() + RECONNECT_SECONDS

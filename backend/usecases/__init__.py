"""The backend as chat flows, channel adapters and the CLI see it.

Callers outside `backend/` hold a `Backend` and call use cases on it; each use case owns its transaction
(or, inside a conversation turn, its savepoint in the turn's one transaction) and returns plain data, never
a session or a table row.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from backend.runtime import Runtime


@dataclass(frozen=True)
class Backend:
    """The composed backend of one process: config, models and clock, and the database."""

    runtime: Runtime
    session_factory: sessionmaker[Session]

"""Public ticket numbers: PREFIX + local date + '-' + a per-day sequence (GB20261122-0001)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, bindparam, cast
from sqlalchemy.orm import Session

from backend.db.models import TicketCounter
from backend.db.session import dialect_insert


def next_ticket_number(session: Session, *, prefix: str, now: datetime, timezone: str) -> str:
    """Atomically take the next number of the local day (safe under concurrent writers)."""
    day = now.astimezone(ZoneInfo(timezone)).strftime("%Y%m%d")
    seq = session.execute(_take_next(session.get_bind().dialect.name), {"day": day}).scalar_one()
    return f"{prefix}{day}-{seq:04d}"


@cache
def _take_next(dialect: str) -> Any:
    """The upsert that takes a day's next number, built once per dialect."""
    upsert = dialect_insert(dialect)(TicketCounter).values(day=bindparam("day"), last=1)
    return upsert.on_conflict_do_update(
        index_elements=[TicketCounter.day], set_={"last": cast(TicketCounter.last + 1, Integer)}
    ).returning(TicketCounter.last)

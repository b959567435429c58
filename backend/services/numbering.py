"""Public ticket numbers: PREFIX + local date + '-' + a per-day sequence (GB20261122-0001)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, cast
from sqlalchemy.orm import Session

from backend.db.models import TicketCounter
from backend.db.session import upsert_insert


def next_ticket_number(session: Session, *, prefix: str, now: datetime, timezone: str) -> str:
    """Atomically take the next number of the local day (safe under concurrent writers)."""
    day = now.astimezone(ZoneInfo(timezone)).strftime("%Y%m%d")
    upsert = upsert_insert(session)(TicketCounter).values(day=day, last=1)
    take_next = upsert.on_conflict_do_update(
        index_elements=[TicketCounter.day], set_={"last": cast(TicketCounter.last + 1, Integer)}
    ).returning(TicketCounter.last)
    seq = session.execute(take_next).scalar_one()
    return f"{prefix}{day}-{seq:04d}"

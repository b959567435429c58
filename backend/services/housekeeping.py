"""Housekeeping: forget platform delivery ids once no platform will redeliver them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from backend.db.models import InboundMessage

# WeChat retries within seconds and Telegram within hours; a week is far beyond either.
DEDUPE_KEEP = timedelta(days=7)


def purge_inbound(session: Session, now: datetime, keep: timedelta = DEDUPE_KEEP) -> int:
    """Delete dedupe rows older than `keep`; commits and returns how many went."""
    result = session.execute(delete(InboundMessage).where(InboundMessage.created_at < now - keep))
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

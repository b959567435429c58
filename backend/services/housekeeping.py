"""Housekeeping: forget platform delivery ids and webhook nonces once nothing can use them again."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from backend.db.models import InboundMessage, WebhookNonce

# WeChat retries within seconds and Telegram within hours; a week is far beyond either.
DEDUPE_KEEP = timedelta(days=7)
# A nonce matters only inside the replay window (minutes); a day is ample.
NONCE_KEEP = timedelta(days=1)


def purge_inbound(session: Session, now: datetime, keep: timedelta = DEDUPE_KEEP) -> int:
    """Delete dedupe rows older than `keep` (the caller commits); how many went."""
    result = session.execute(delete(InboundMessage).where(InboundMessage.created_at < now - keep))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def purge_nonces(session: Session, now: datetime, keep: timedelta = NONCE_KEEP) -> int:
    """Delete webhook nonces older than `keep` (the caller commits); how many went."""
    result = session.execute(delete(WebhookNonce).where(WebhookNonce.seen_at < now - keep))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

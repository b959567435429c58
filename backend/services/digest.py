"""The staff daily digest: counts of each worker's open tasks by warning light, queued as outbox rows."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.fixed_sets import in_fixed
from backend.db.models import Notification, Staff, Ticket
from backend.domain.notifications import NoticeKind
from backend.domain.tickets import OPEN_STATUSES
from backend.services import notify

logger = logging.getLogger(__name__)

OVERDUE_LISTED = 5


def digest_counts(session: Session, staff: Staff, now: datetime) -> dict[str, Any]:
    """Open tasks by light, new in the last 24 h, and up to five overdue ticket numbers."""
    mine = (Ticket.assignee_id == staff.id) & in_fixed(Ticket.status, OPEN_STATUSES)
    by_light = dict(session.execute(select(Ticket.light, func.count()).where(mine).group_by(Ticket.light)).all())
    new = (
        session.scalar(
            select(func.count()).select_from(Ticket).where(mine, Ticket.created_at >= now - timedelta(hours=24))
        )
        or 0
    )
    overdue = session.scalars(
        select(Ticket.number).where(mine, Ticket.light == "red").order_by(Ticket.due_at).limit(OVERDUE_LISTED)
    ).all()
    return {
        "red": int(by_light.get("red", 0)),
        "yellow": int(by_light.get("yellow", 0)),
        "green": int(by_light.get("green", 0)),
        "total": int(sum(by_light.values())),
        "new": int(new),
        "overdue": list(overdue),
    }


def queue_digests(session: Session, now: datetime, period: str) -> int:
    """One "digest" outbox row per active staff member with open tasks, once per period key (does not commit)."""
    queued = 0
    holders = select(Ticket.assignee_id).where(in_fixed(Ticket.status, OPEN_STATUSES))
    for staff in session.scalars(select(Staff).where(Staff.active.is_(True), Staff.id.in_(holders))):
        row = notify.notify_staff(
            session,
            staff=staff,
            ticket=None,
            kind=NoticeKind.digest,
            key=f"digest:{period}:{staff.id}",
            **digest_counts(session, staff, now),
        )
        queued += row is not None
    logger.info("queued %d digests for %s", queued, period)
    return queued


def digests_queued_for(session: Session, period: str) -> bool:
    """Whether the digests of a period (a local day) are already in the outbox."""
    already = session.scalar(
        select(func.count()).select_from(Notification).where(Notification.key.like(f"digest:{period}:%"))
    )
    return bool(already)

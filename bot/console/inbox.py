"""Console identities and the console's outbox: notifications for console users are shown, not sent."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import ChannelIdentity, Notification
from backend.db.types import utcnow
from backend.services.people import identity_of, staff_by_code
from bot.adapters import notification_messages
from bot.messages import Outbound

logger = logging.getLogger(__name__)

CHANNEL = "console"


def staff_user_id(staff_code: str) -> str:
    """The console user name of a staff member."""
    return f"staff-{staff_code}"


def bind_console_staff(session: Session, staff_code: str) -> str:
    """Let the console speak as a staff member (local simulator only); returns the console user id."""
    staff = staff_by_code(session, staff_code)
    user = staff_user_id(staff_code)
    ident = identity_of(session, channel=CHANNEL, external_id=user)
    if ident is None:
        session.add(ChannelIdentity(person_id=staff.person_id, channel=CHANNEL, external_id=user))
    elif ident.person_id != staff.person_id:
        ident.person_id = staff.person_id
    session.commit()
    return user


def take_pending(session: Session, user_id: str, *, channel: str = CHANNEL) -> list[Outbound]:
    """Render and mark as sent the pending notifications for the person behind a console user, oldest first.

    Staff are usually reached on WeCom or Telegram; the simulator shows their messages here instead.
    """
    ident = identity_of(session, channel=channel, external_id=user_id)
    if ident is None:
        return []
    rows = session.scalars(
        select(Notification)
        .where(
            Notification.person_id == ident.person_id,
            Notification.status == "pending",
        )
        .order_by(Notification.id)
    ).all()
    out: list[Outbound] = []
    now = utcnow()
    for row in rows:
        out.extend(notification_messages(row))
        row.status, row.sent_at = "sent", now
    session.commit()
    return out

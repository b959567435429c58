"""Console identities and the console's outbox: notifications for console users are shown, not sent."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from backend.usecases import channels
from bot.messages import Outbound
from bot.outbound import delivery_messages

logger = logging.getLogger(__name__)

CHANNEL = "console"


def staff_user_id(staff_code: str) -> str:
    """The console user name of a staff member."""
    return f"staff-{staff_code}"


def bind_console_staff(session_factory: sessionmaker[Session], staff_code: str) -> str:
    """Let the console speak as a staff member (local simulator only); returns the console user id."""
    user = staff_user_id(staff_code)
    channels.bind_to_staff(session_factory, channel=CHANNEL, external_id=user, staff_code=staff_code)
    return user


def take_pending(session_factory: sessionmaker[Session], user_id: str, *, channel: str = CHANNEL) -> list[Outbound]:
    """Render and mark as sent the pending notifications for the person behind a console user, oldest first.

    Staff are usually reached on WeCom or Telegram; the simulator shows their messages here instead.
    """
    out: list[Outbound] = []
    for delivery in channels.take_pending(session_factory, channel=channel, external_id=user_id):
        out.extend(delivery_messages(delivery))
    return out

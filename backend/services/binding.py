"""One-time codes that bind a staff member's chat account (WeCom, Telegram …) to their staff record."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import BindCode, ChannelIdentity, Staff
from backend.domain.errors import GuardFailed, NotFound
from backend.services.people import identity_of, staff_by_code

logger = logging.getLogger(__name__)

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud or typed on a phone
CODE_LENGTH = 8
DEFAULT_TTL = timedelta(hours=24)


def issue_bind_code(session: Session, staff_code: str, now: datetime, ttl: timedelta = DEFAULT_TTL) -> BindCode:
    """A fresh one-time code for an active staff member (does not commit)."""
    staff = staff_by_code(session, staff_code)
    if not staff.active:
        raise GuardFailed("error.staff_inactive", staff=staff_code)
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if session.get(BindCode, code) is None:
            break
    row = BindCode(code=code, staff_id=staff.id, expires_at=now + ttl)
    session.add(row)
    session.flush()
    logger.info("bind code issued for staff %s", staff_code)
    return row


def redeem(session: Session, channel: str, external_id: str, code: str, now: datetime) -> Staff:
    """Bind (channel, external_id) to the code's staff member and use the code up (does not commit)."""
    row = session.scalar(select(BindCode).where(BindCode.code == code.strip().upper()).with_for_update())
    if row is None:
        raise NotFound("error.bind_code_invalid")
    if row.used_at is not None:
        raise GuardFailed("error.bind_code_used")
    if row.expires_at <= now:
        raise GuardFailed("error.bind_code_expired")
    staff = session.get(Staff, row.staff_id)
    if staff is None or not staff.active:
        raise NotFound("error.bind_code_staff_gone")
    ident = identity_of(session, channel=channel, external_id=external_id)
    if ident is None:
        session.add(
            ChannelIdentity(person_id=staff.person_id, channel=channel, external_id=external_id, last_inbound_at=now)
        )
    else:
        # The account may have talked to the bot as a resident before; it now speaks for the staff member.
        ident.person_id = staff.person_id
    # One account per channel for a staff member: drop older bindings on this channel.
    for old in session.scalars(
        select(ChannelIdentity).where(
            ChannelIdentity.person_id == staff.person_id,
            ChannelIdentity.channel == channel,
            ChannelIdentity.external_id != external_id,
        )
    ):
        session.delete(old)
    row.used_at = now
    session.flush()
    session.expire_all()
    logger.info("staff %s bound a %s account", staff.code, channel)
    return session.get(Staff, row.staff_id)  # type: ignore[return-value]

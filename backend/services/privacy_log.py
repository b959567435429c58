"""The privacy log: every reveal of masked contact details, every erasure and export, listed for admins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Person, PrivacyAccess, Staff, Ticket
from backend.services.actors import ActorContext


def record_access(
    session: Session,
    *,
    action: str,
    actor: ActorContext,
    at: datetime,
    reason: str,
    ticket: Ticket | None = None,
    subject_id: int | None = None,
) -> PrivacyAccess:
    """Write one line of the privacy log (the caller commits)."""
    code = "resident"
    if actor.staff_id is not None:
        staff = session.get(Staff, actor.staff_id)
        code = staff.code if staff is not None else str(actor.staff_id)
    row = PrivacyAccess(
        action=action,
        at=at,
        actor_id=actor.person_id if actor.staff_id is not None else None,
        actor_code=code,
        actor_role=actor.role.value,
        ticket_id=ticket.id if ticket is not None else None,
        subject_id=subject_id,
        reason=reason,
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class AccessLine:
    """One line of the privacy log as admins read it."""

    at: datetime
    action: str
    actor_code: str
    actor_name: str
    actor_role: str
    ticket_number: str | None
    reason: str


def access_log(session: Session, *, limit: int = 200, offset: int = 0) -> list[AccessLine]:
    """The latest lines of the privacy log, newest first."""
    rows = session.execute(
        select(PrivacyAccess, Ticket.number, Person.name)
        .outerjoin(Ticket, Ticket.id == PrivacyAccess.ticket_id)
        .outerjoin(Person, Person.id == PrivacyAccess.actor_id)
        .order_by(PrivacyAccess.at.desc(), PrivacyAccess.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        AccessLine(
            at=row.at,
            action=row.action,
            actor_code=row.actor_code,
            actor_name=name or "",
            actor_role=row.actor_role,
            ticket_number=number,
            reason=row.reason,
        )
        for row, number, name in rows
    ]

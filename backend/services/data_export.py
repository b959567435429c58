"""What gridbot stores about a resident, gathered for them to read (their right to a copy)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db.models import ChannelIdentity, Person, Ticket
from backend.domain.errors import NotFound


@dataclass(frozen=True)
class TicketLine:
    """One of the resident's tickets as the export lists it."""

    number: str
    created_at: datetime
    status: str
    text: str


@dataclass(frozen=True)
class PersonalData:
    """Everything personal stored about one resident."""

    name: str
    phone: str | None
    home_text: str | None
    accounts: tuple[str, ...]
    since: datetime
    tickets: tuple[TicketLine, ...]
    ticket_count: int


def personal_data(session: Session, person_id: int, *, ticket_limit: int = 20) -> PersonalData:
    """The resident's stored data: identity, accounts, home, the latest tickets (all counted)."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound("error.resident_not_found")
    accounts = tuple(
        session.scalars(
            select(ChannelIdentity.channel).where(ChannelIdentity.person_id == person_id).order_by(ChannelIdentity.id)
        )
    )
    mine = Ticket.reporter_id == person_id
    rows = session.scalars(select(Ticket).where(mine).order_by(Ticket.created_at.desc()).limit(ticket_limit))
    return PersonalData(
        name=person.name,
        phone=person.phone,
        home_text=person.home_text,
        accounts=accounts,
        since=person.created_at,
        tickets=tuple(TicketLine(t.number, t.created_at, t.status, t.text) for t in rows),
        ticket_count=session.scalar(select(func.count()).select_from(Ticket).where(mine)) or 0,
    )

"""Outbox rows: every notification is written in the transaction of the change it announces.

Rows carry a message kind and its parameters, not rendered text: the channel sender renders them
from the message catalogue in the recipient's language.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.event import listens_for
from sqlalchemy.orm import Mapper, Session

from backend.db.models import Notification, Person, Staff, Ticket, TicketEvent
from backend.domain.notifications import NoticeKind, priority_of
from backend.logging_setup import mask_pii
from backend.services.people import preferred_identity


def ticket_payload(ticket: Ticket, **extra: Any) -> dict[str, Any]:
    """The parameters every ticket message can use."""
    payload: dict[str, Any] = {
        "number": ticket.number,
        "status": ticket.status,
        "category": ticket.category_code,
        "priority": ticket.priority,
        "light": ticket.light,
        "text": ticket.text[:200],
        "location": ticket.location_text,
        "due_at": ticket.due_at.isoformat() if ticket.due_at else None,
    }
    payload.update({k: v for k, v in extra.items() if v is not None})
    return payload


def notify_person(
    session: Session,
    *,
    person: Person,
    kind: NoticeKind,
    key: str,
    ticket: Ticket | None,
    payload: dict[str, Any],
    channel: str | None = None,
    event: TicketEvent | None = None,
) -> Notification | None:
    """Queue one message to a person on their preferred channel; None if they cannot be reached.

    The notice of a ticket's change names its `event`; its `key` is then what follows the event's ids in the
    stored key (`t{ticket}:e{event}:{key}`, see `_key_by_event`).
    """
    ident = preferred_identity(person, channel)
    if ident is None:
        return None
    payload = {**payload, "lang": ident.language}
    row = Notification(
        key=key,
        ticket=ticket,
        event=event,
        person_id=person.id,
        channel=ident.channel,
        external_id=ident.external_id,
        kind=kind.value,
        payload=payload,
        priority=priority_of(kind),
    )
    session.add(row)
    return row


def notify_reporters(session: Session, *, ticket: Ticket, kind: NoticeKind, event: TicketEvent, **extra: Any) -> int:
    """Tell the reporter and every follower (merged duplicates' reporters) about a ticket."""
    people: list[Person] = []
    if ticket.reporter_id is not None:
        reporter = session.get(Person, ticket.reporter_id)
        if reporter is not None and reporter.kind == "resident":
            people.append(reporter)
    people += [p for p in ticket.followers if p not in people]
    payload = ticket_payload(ticket, **extra)
    sent = 0
    for person in people:
        channel = ticket.channel if person.id == ticket.reporter_id else None
        if notify_person(
            session,
            person=person,
            kind=kind,
            key=f"p{person.id}:{kind}",
            ticket=ticket,
            payload=payload,
            channel=channel,
            event=event,
        ):
            sent += 1
    return sent


def notify_staff(
    session: Session,
    *,
    staff: Staff,
    ticket: Ticket | None,
    kind: NoticeKind,
    key: str,
    event: TicketEvent | None = None,
    **extra: Any,
) -> Notification | None:
    """Tell a staff member about a task (new, reminder, escalation, verification …); `key` as in notify_person."""
    payload = ticket_payload(ticket, **extra) if ticket else dict(extra)
    for field in ("text", "location"):  # staff read contact details masked (docs/PRIVACY.md)
        if isinstance(payload.get(field), str):
            payload[field] = mask_pii(payload[field])
    return notify_person(session, person=staff.person, kind=kind, key=key, ticket=ticket, payload=payload, event=event)


@listens_for(Notification, "before_insert")
def _key_by_event(_mapper: Mapper[Notification], _connection: Connection, row: Notification) -> None:
    """Prefix an event's notice key with its ticket and event ids, which the same flush has just inserted.

    A change's event is not flushed on its own to learn its id: the event, its ticket and its notices go to the
    database together (the unit of work inserts the event first, as the notice refers to it).
    """
    if row.event_id is not None:
        row.key = f"t{row.ticket_id}:e{row.event_id}:{row.key}"

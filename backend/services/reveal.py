"""Masked by default, revealed on purpose: staff read texts with phones and house numbers masked; a reveal
is an explicit, reasoned action of someone who needs it, and every reveal is a line of the privacy log."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from backend.db.models import Person, Ticket
from backend.domain.errors import GuardFailed, PermissionDenied
from backend.domain.privacy import MIN_REASON_LENGTH, may_reveal
from backend.domain.tickets import TERMINAL_STATUSES, TicketStatus
from backend.logging_setup import mask_pii
from backend.runtime import Runtime
from backend.services.access import can_see, check_may_touch
from backend.services.actors import ActorContext
from backend.services.privacy_log import record_access
from backend.services.workflow import load_ticket


@dataclass(frozen=True)
class Contact:
    """A ticket's report text and place, and its reporter's phone and home, as far as known."""

    text: str
    location_text: str | None
    phone: str | None
    home: str | None


def masked(text: str | None) -> str | None:
    """A text as staff see it by default: phone, ID and house numbers masked."""
    return mask_pii(text) if text else text


def may_reveal_ticket(actor: ActorContext, ticket: Ticket) -> bool:
    """Whether this staff member may reveal the ticket's contact details now."""
    return may_reveal(
        actor.role,
        in_scope=can_see(actor, ticket),
        ticket_open=TicketStatus(ticket.status) not in TERMINAL_STATUSES and ticket.anonymised_at is None,
    )


def reveal_contact(session: Session, runtime: Runtime, number: str, actor: ActorContext, *, reason: str) -> Contact:
    """The unmasked contact details of a ticket, recorded in the privacy log (the caller commits)."""
    ticket = load_ticket(session, number)
    check_may_touch(actor, ticket)
    if not may_reveal_ticket(actor, ticket):
        raise PermissionDenied("error.reveal_not_allowed")
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise GuardFailed("error.reveal_needs_reason")
    record_access(
        session,
        action="reveal",
        actor=actor,
        at=runtime.clock.now(),
        reason=reason.strip(),
        ticket=ticket,
        subject_id=ticket.reporter_id,
    )
    reporter = session.get(Person, ticket.reporter_id) if ticket.reporter_id is not None else None
    return Contact(
        text=ticket.text,
        location_text=ticket.location_text,
        phone=reporter.phone if reporter is not None else None,
        home=reporter.home_text if reporter is not None else None,
    )

"""Erasing a resident's personal data on request, from chat or by an admin with a reason.

The resident's identities, name, phone and home go; their finished tickets are anonymised like the
retention job does; their open tickets keep working without them: the text is scrubbed of their name and
phone (other personal data masked), nobody will notify them or ask for a rating, and the handler is told
the reporter withdrew contact. What they wrote elsewhere (comments, rating comments) goes too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, null, select, update
from sqlalchemy.orm import Session

from backend.db.models import (
    CategoryCorrection,
    ChannelIdentity,
    ConversationState,
    InboundMessage,
    InboxMessage,
    Notification,
    NotificationAttempt,
    Person,
    Rating,
    ReportSubscription,
    Staff,
    Ticket,
    TicketEvent,
    TicketFollower,
)
from backend.domain.errors import GuardFailed, NotFound
from backend.domain.notifications import NoticeKind
from backend.domain.privacy import MIN_REASON_LENGTH, scrub
from backend.domain.tickets import TERMINAL_STATUSES, Action, TicketStatus
from backend.logging_setup import mask_pii
from backend.runtime import Runtime
from backend.services import notify
from backend.services.actors import SYSTEM, ActorContext
from backend.services.audit import record_event
from backend.services.privacy_log import record_access
from backend.services.retention import anonymise_tickets
from backend.services.workflow import apply_action

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErasureSummary:
    """What an erasure did."""

    open_tickets: int
    finished_tickets: int


def erase_resident(
    session: Session, runtime: Runtime, person_id: int, *, actor: ActorContext, reason: str
) -> ErasureSummary:
    """Erase a resident's personal data (the caller commits). Raises NotFound or GuardFailed."""
    person = session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        raise NotFound("error.resident_not_found")
    if person.kind != "resident" or session.scalar(select(Staff.id).where(Staff.person_id == person_id)):
        raise GuardFailed("error.erase_staff")
    if actor.staff_id is not None and len(reason.strip()) < MIN_REASON_LENGTH:
        raise GuardFailed("error.erase_needs_reason")
    now = runtime.clock.now()
    identifiers = [person.name, person.phone or "", person.home_text or ""]
    tickets = list(session.scalars(select(Ticket).where(Ticket.reporter_id == person.id).order_by(Ticket.id)))
    finished = [t.id for t in tickets if TicketStatus(t.status) in TERMINAL_STATUSES]
    still_open = [t for t in tickets if TicketStatus(t.status) not in TERMINAL_STATUSES]
    record_access(session, action="erase", actor=actor, at=now, reason=reason.strip(), subject_id=person.id)

    for ticket in still_open:
        _withdraw(session, runtime, ticket, identifiers, actor)
    if finished:
        anonymise_tickets(session, Ticket.id.in_(finished), now, upload_dir=runtime.settings.upload_dir)
    _forget_what_they_wrote(session, person.id)
    _forget_identities(session, person)
    person.name, person.phone, person.home_text, person.home_area_code = "", None, None, None
    person.erased_at = now
    session.flush()
    logger.info("resident %s erased: %s open, %s finished tickets", person.id, len(still_open), len(finished))
    return ErasureSummary(open_tickets=len(still_open), finished_tickets=len(finished))


def _withdraw(session: Session, runtime: Runtime, ticket: Ticket, identifiers: list[str], actor: ActorContext) -> None:
    """An open ticket loses its reporter and their identifiers but keeps its place in the loop."""

    def clean(text: str | None) -> str | None:
        return scrub(text, identifiers=identifiers, mask=mask_pii) if text else text

    ticket.text = clean(ticket.text) or ""
    ticket.location_text = clean(ticket.location_text)
    ticket.reporter_id = None
    ticket.contact_withdrawn = True
    for event in ticket.events:  # a staff note may repeat the phone ("已电话联系 138…")
        event.note = clean(event.note)
    for correction in session.scalars(select(CategoryCorrection).where(CategoryCorrection.ticket_id == ticket.id)):
        correction.text = clean(correction.text) or ""
    for row in session.scalars(select(Notification).where(Notification.ticket_id == ticket.id)):
        row.payload = _clean_payload(row.payload, clean)
    event = record_event(
        session, ticket, actor, "contact_withdrawn", at=runtime.clock.now(), show_actor=actor.staff_id is not None
    )
    if ticket.assignee_id is not None:
        staff = session.get(Staff, ticket.assignee_id)
        if staff is not None:
            notify.notify_staff(
                session,
                staff=staff,
                ticket=ticket,
                kind=NoticeKind.task_contact_withdrawn,
                key="withdrawn",
                event=event,
            )
    if ticket.status == TicketStatus.verified.value:
        # It only waited for the reporter's rating.
        apply_action(session, runtime, ticket, Action.close, SYSTEM, reason="反映人已撤回联系方式")


def _clean_payload(payload: dict[str, Any], clean: Any) -> dict[str, Any]:
    out = dict(payload)
    for key in ("text", "location"):
        if isinstance(out.get(key), str):
            out[key] = clean(out[key])
    return out


def _forget_what_they_wrote(session: Session, person_id: int) -> None:
    """Their comments and rating comments on any ticket, their follows and the messages sent to them."""
    session.execute(
        update(TicketEvent)
        .where(TicketEvent.actor_id == person_id)
        .values(note=None, actor_id=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Rating)
        .where(Rating.person_id == person_id)
        .values(comment=None, person_id=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(TicketFollower).where(TicketFollower.person_id == person_id))
    session.execute(delete(ReportSubscription).where(ReportSubscription.person_id == person_id))
    sent = select(Notification.id).where(Notification.person_id == person_id).scalar_subquery()
    session.execute(delete(NotificationAttempt).where(NotificationAttempt.notification_id.in_(sent)))
    session.execute(delete(Notification).where(Notification.person_id == person_id))


def _forget_identities(session: Session, person: Person) -> None:
    """Their chat accounts, dialogue states, the replies stored for their deliveries and their processed
    inbox messages."""
    for ident in session.scalars(select(ChannelIdentity).where(ChannelIdentity.person_id == person.id)):
        where = (ConversationState.channel == ident.channel, ConversationState.external_id == ident.external_id)
        session.execute(delete(ConversationState).where(*where))
        session.execute(
            update(InboundMessage)
            .where(InboundMessage.channel == ident.channel, InboundMessage.external_id == ident.external_id)
            .values(reply=null(), external_id=None)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            delete(InboxMessage).where(
                InboxMessage.channel == ident.channel,
                InboxMessage.sender == ident.external_id,
                InboxMessage.status != "pending",
            )
        )
        session.delete(ident)
    session.flush()
    session.expire(person, ["identities"])


def resident_by_contact(session: Session, *, phone: str | None = None, ticket_number: str | None = None) -> Person:
    """The resident an admin means: by their phone or by a ticket they reported. NotFound otherwise."""
    person: Person | None = None
    if phone:
        person = session.scalar(select(Person).where(Person.phone == phone.strip(), Person.kind == "resident"))
    elif ticket_number:
        reporter = session.scalar(select(Ticket.reporter_id).where(Ticket.number == ticket_number.strip().upper()))
        person = session.get(Person, reporter) if reporter is not None else None
    if person is None or person.erased_at is not None:
        raise NotFound("error.resident_not_found")
    return person

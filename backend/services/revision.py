"""A reporter's corrected words for a report nobody has taken up yet (an edit of the chat message that made it)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.db.models import Ticket
from backend.domain.errors import GuardFailed, PermissionDenied
from backend.domain.tickets import TicketStatus
from backend.runtime import Runtime
from backend.services.actors import ActorContext
from backend.services.audit import place_in_grid, record_event
from backend.services.categories import subcategory
from backend.services.intake import MAX_TEXT, assess
from backend.services.workflow import load_ticket


def revise_report(session: Session, runtime: Runtime, number: str, text: str, *, actor: ActorContext) -> Ticket:
    """Replace a waiting report's words and assess them once more; raises DomainError once it is taken up.

    Only while the ticket is still submitted (at a triage desk): its category follows the new words, and a
    place they name fills a place it lacked. The desk still decides; the old words stay in the audit trail.
    Does not commit.
    """
    ticket = load_ticket(session, number, lock=True)
    if ticket.reporter_id is None or ticket.reporter_id != actor.person_id:
        raise PermissionDenied("error.only_reporter_may_add")
    if ticket.status != TicketStatus.submitted.value:
        raise GuardFailed("error.report_taken_up", number=ticket.number)
    words = text.strip()[:MAX_TEXT]
    if not words:
        raise GuardFailed("error.description_required")
    assessment = assess(runtime, words, lon=ticket.lon, lat=ticket.lat)
    before = ticket.text
    ticket.text = words
    category = subcategory(session, runtime, assessment.category_code)
    if category is not None:
        ticket.category_code, ticket.category_confidence = category.code, assessment.confidence
        ticket.department_code = category.department
        ticket.tier = category.tier
    place = assessment.place
    if ticket.grid_code is None and place.grid_code is not None:
        place_in_grid(runtime, ticket, grid_code=place.grid_code, area_code=place.area_code)
    now = runtime.clock.now()
    ticket.updated_at = now
    record_event(
        session,
        ticket,
        actor,
        "revise",
        at=now,
        note=before[:2000],
        data={
            "confidence": round(assessment.confidence, 3),
            "top3": [[c, round(p, 3)] for c, p in assessment.top3],
            "model_version": assessment.model_version,
            "place_source": place.source,
        },
    )
    return ticket

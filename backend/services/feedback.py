"""Feedback (反馈): the resident rates the result; 不满意 reopens under the reopen limit and, past it,
sends the ticket to 督办 (the street command centre under the supervisors' watch) instead of closing it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.db.models import Rating, Ticket
from backend.domain.errors import GuardFailed
from backend.domain.tickets import Action, TicketStatus
from backend.runtime import Runtime
from backend.services.actors import ActorContext
from backend.services.workflow import apply_action, load_ticket

SCORES = ("satisfied", "basically_satisfied", "dissatisfied")


def rate(
    session: Session, runtime: Runtime, number: str, actor: ActorContext, *, score: str, comment: str | None = None
) -> Ticket:
    """Record a rating; satisfied closes a verified ticket, dissatisfied reopens it (past the limit: 督办).

    Flushes; the caller commits (a chat turn commits it with the rest of the turn)."""
    if score not in SCORES:
        raise GuardFailed("error.rating_invalid")
    ticket = load_ticket(session, number, lock=True)
    if ticket.reporter_id != actor.person_id:
        raise GuardFailed("error.only_reporter_may_rate")
    if ticket.status not in (TicketStatus.verified.value, TicketStatus.closed.value):
        raise GuardFailed("error.rating_too_early")
    if any(
        r.person_id == actor.person_id and r.created_at >= (ticket.resolved_at or ticket.created_at)
        for r in ticket.ratings
    ):
        raise GuardFailed("error.already_rated")
    session.add(
        Rating(ticket=ticket, person_id=actor.person_id, score=score, comment=comment, created_at=runtime.clock.now())
    )
    session.flush()
    if score == "dissatisfied":
        past_limit = ticket.reopen_count >= runtime.settings.reopen_limit
        action = Action.escalate_to_supervisor if past_limit else Action.reopen
        apply_action(session, runtime, ticket, action, actor, reason=comment or "群众不满意")
    elif ticket.status == TicketStatus.verified.value:
        apply_action(session, runtime, ticket, Action.close, actor, reason=f"群众评价：{score}")
    session.flush()
    return ticket

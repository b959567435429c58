"""Feedback (反馈): the resident rates the result; 不满意 reopens under the reopen limit."""

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
    session: Session, rt: Runtime, number: str, actor: ActorContext, *, score: str, comment: str | None = None
) -> Ticket:
    """Record a rating; satisfied closes a verified ticket, dissatisfied reopens it if allowed.

    Flushes; the caller commits (a chat turn commits it with the rest of the turn)."""
    if score not in SCORES:
        raise GuardFailed("评价只能是 满意、基本满意 或 不满意")
    ticket = load_ticket(session, number, lock=True)
    if ticket.reporter_id != actor.person_id:
        raise GuardFailed("只有反映人可以评价")
    if ticket.status not in (TicketStatus.verified.value, TicketStatus.closed.value):
        raise GuardFailed("工单办结核查后才能评价")
    if any(
        r.person_id == actor.person_id and r.created_at >= (ticket.resolved_at or ticket.created_at)
        for r in ticket.ratings
    ):
        raise GuardFailed("这次办理您已经评价过了")
    session.add(
        Rating(ticket_id=ticket.id, person_id=actor.person_id, score=score, comment=comment, created_at=rt.clock.now())
    )
    session.flush()
    if score == "dissatisfied" and ticket.reopen_count < rt.settings.reopen_limit:
        apply_action(session, rt, ticket, Action.reopen, actor, reason=comment or "群众不满意")
    elif ticket.status == TicketStatus.verified.value:
        apply_action(session, rt, ticket, Action.close, actor, reason=f"群众评价：{score}")
    session.flush()
    return ticket

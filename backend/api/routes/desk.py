"""The triage desk (分拨台) for dispatchers: reports a person must route, and the one-step decision."""

from __future__ import annotations

from fastapi import APIRouter

from backend.api.deps import CurrentStaff, RuntimeDep, SessionDep
from backend.api.routes.tickets import staff_codes, to_public
from backend.api.schemas import DeskDecisionIn, DeskItem, TicketPublic
from backend.db.models import Ticket
from backend.services import desk

router = APIRouter(prefix="/api/desk", tags=["triage desk"])


def to_item(ticket: Ticket) -> DeskItem:
    """A desk ticket as the API shows it (contact details masked, as in every staff list)."""
    submit = next((e for e in ticket.events if e.action == "submit"), None)
    top3 = (submit.data or {}).get("top3", []) if submit is not None else []
    return DeskItem(
        **to_public(ticket, {}).model_dump(),
        desk_reason=ticket.desk_reason or "",
        desk_since=ticket.desk_since or ticket.created_at,  # always set on a desk ticket
        desk_community_code=ticket.desk_community_code,
        desk_street_code=ticket.desk_street_code,
        suggestions=[(str(code), float(p)) for code, p in top3],
    )


@router.get("", response_model=list[DeskItem])
def queue(session: SessionDep, actor: CurrentStaff) -> list[DeskItem]:
    """The reports waiting at the caller's desk: their community's or street's; every desk for admins."""
    return [to_item(t) for t in desk.desk_queue(session, actor)]


@router.post("/{number}", response_model=TicketPublic)
def decide(
    number: str, body: DeskDecisionIn, session: SessionDep, runtime: RuntimeDep, actor: CurrentStaff
) -> TicketPublic:
    """Route a desk report: category and grid in one step; it is dispatched and kept as a correction."""
    decision = desk.DeskDecision(category_code=body.category_code, grid_code=body.grid_code, note=body.note)
    ticket = desk.decide(session, runtime, number, actor, decision)
    session.commit()
    return to_public(ticket, staff_codes(session, {ticket.assignee_id} if ticket.assignee_id else set()))

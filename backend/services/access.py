"""Who may see which tickets: one place for the scope rules the API, dashboard and bot share."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_, select, true

from backend.db.models import Ticket, TicketFollower
from backend.domain.errors import NotFound, PermissionDenied
from backend.domain.roles import Role
from backend.services.actors import ActorContext


def visible_tickets(actor: ActorContext) -> ColumnElement[bool]:
    """A WHERE clause selecting the tickets this actor may see."""
    role, scope = actor.role, actor.scope_code
    if role in (Role.admin, Role.supervisor, Role.system):
        return true()
    if role is Role.resident:
        followed = select(TicketFollower.ticket_id).where(TicketFollower.person_id == actor.person_id)
        return or_(Ticket.reporter_id == actor.person_id, Ticket.id.in_(followed))
    mine = Ticket.assignee_id == actor.staff_id
    if role is Role.gridworker:
        return or_(Ticket.grid_code == scope, mine)
    if role is Role.grid_leader:
        return or_(Ticket.community_code == scope, mine)
    # Dispatchers also see the reports waiting at their triage desk (分拨台), which may have no place yet.
    if role is Role.community_dispatcher:
        return or_(Ticket.community_code == scope, Ticket.desk_community_code == scope, mine)
    if role is Role.street_dispatcher:
        return or_(Ticket.street_code == scope, Ticket.desk_street_code == scope, mine)
    if role is Role.department_handler:
        return or_(Ticket.department_code == scope, mine)
    return false()


def can_see(actor: ActorContext, ticket: Ticket, *, follower_ids: set[int] | None = None) -> bool:
    """The same rule as visible_tickets, for one loaded ticket."""
    role, scope = actor.role, actor.scope_code
    if role in (Role.admin, Role.supervisor, Role.system):
        return True
    if role is Role.resident:
        return ticket.reporter_id == actor.person_id or actor.person_id in (follower_ids or set())
    if ticket.assignee_id is not None and ticket.assignee_id == actor.staff_id:
        return True
    desk = {Role.community_dispatcher: ticket.desk_community_code, Role.street_dispatcher: ticket.desk_street_code}
    if scope is not None and desk.get(role) == scope:
        return True
    return {
        Role.gridworker: ticket.grid_code,
        Role.grid_leader: ticket.community_code,
        Role.community_dispatcher: ticket.community_code,
        Role.street_dispatcher: ticket.street_code,
        Role.department_handler: ticket.department_code,
    }.get(role) == scope and scope is not None


def check_may_touch(actor: ActorContext, ticket: Ticket, *, follower_ids: set[int] | None = None) -> None:
    """Raise unless the actor may read, comment on, photograph, reassign or re-categorise this ticket.

    Moves of the state machine are decided by backend.domain.permissions (see workflow.apply_action).
    """
    if not can_see(actor, ticket, follower_ids=follower_ids):
        raise NotFound("error.ticket_not_visible", number=ticket.number)
    if actor.role is Role.resident and ticket.reporter_id != actor.person_id:
        raise PermissionDenied("error.only_reporter_may_act")

"""A ticket's audit trail: the one place that appends a TicketEvent, and places a ticket in a grid."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from backend.db.models import Ticket, TicketEvent
from backend.runtime import Runtime
from backend.services.actors import ActorContext


def record_event(
    session: Session,
    ticket: Ticket,
    actor: ActorContext,
    action: str,
    *,
    at: datetime,
    note: str | None = None,
    data: dict[str, Any] | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    show_actor: bool = True,
) -> TicketEvent:
    """Append an event to the ticket's trail (inserted by the next flush); the status stays unless given.

    `show_actor=False` keeps the person out of the row (someone who erased their own data).
    """
    event = TicketEvent(
        ticket=ticket,
        at=at,
        actor_id=actor.person_id if show_actor else None,
        actor_role=actor.role.value,
        action=action,
        from_status=from_status or ticket.status,
        to_status=to_status or ticket.status,
        note=note,
        data={} if data is None else data,
    )
    session.add(event)
    return event


def place_in_grid(runtime: Runtime, ticket: Ticket, *, grid_code: str, area_code: str | None = None) -> None:
    """Put a ticket in a grid (and its area, a micro-grid or the grid itself), with the grid's community and street."""
    ticket.area_code, ticket.grid_code = area_code or grid_code, grid_code
    ticket.community_code = runtime.ancestor_at(grid_code, "community")
    ticket.street_code = runtime.ancestor_at(grid_code, "street")

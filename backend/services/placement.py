"""Placing a ticket that arrived without a place (an urgent report sent before the resident said where)."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from backend.db.models import Ticket
from backend.domain.tickets import Action, TicketStatus
from backend.runtime import Runtime
from backend.services.actors import SYSTEM, ActorContext
from backend.services.audit import place_in_grid, record_event
from backend.services.intake import locate
from backend.services.workflow import apply_action

logger = logging.getLogger(__name__)


def place_ticket(
    session: Session,
    runtime: Runtime,
    ticket: Ticket,
    actor: ActorContext,
    *,
    lon: float | None = None,
    lat: float | None = None,
    location_text: str | None = None,
) -> bool:
    """Give an unrouted ticket its place and dispatch it if it now can be; False if the place is unknown.

    Writes a "locate" audit event; does not commit.
    """
    if ticket.grid_code is not None:
        return False
    place = locate(runtime, text=location_text, lon=lon, lat=lat)
    if place.grid_code is None:
        return False
    now = runtime.clock.now()
    ticket.lon, ticket.lat = lon, lat
    ticket.location_text = location_text or ticket.location_text or None
    place_in_grid(runtime, ticket, grid_code=place.grid_code, area_code=place.area_code)
    ticket.updated_at = now
    record_event(session, ticket, actor, "locate", at=now, data={"place_source": place.source, "area": place.area_code})
    if ticket.status == TicketStatus.submitted.value and ticket.category_code:
        apply_action(session, runtime, ticket, Action.dispatch, SYSTEM, reason="补充位置后自动分拨")
    return True

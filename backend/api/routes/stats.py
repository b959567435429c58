"""Basic counts for the viewer's scope."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from backend.api.deps import CurrentStaff, SessionDep
from backend.api.schemas import Counts
from backend.services.queries import TicketFilter, counts

router = APIRouter(prefix="/api/stats", tags=["stats"])


@router.get("/counts", response_model=Counts)
def basic_counts(
    session: SessionDep, actor: CurrentStaff, created_from: datetime | None = None, created_to: datetime | None = None
) -> Counts:
    """Ticket counts by status, warning light, category and department."""
    return Counts.model_validate(counts(session, actor, TicketFilter(created_from=created_from, created_to=created_to)))

"""Read side: filtered ticket lists and counts, always within the viewer's scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from backend.db.models import Ticket
from backend.services.access import visible_tickets
from backend.services.actors import ActorContext


@dataclass
class TicketFilter:
    """Filters of the ticket queue; None means "any"."""

    status: list[str] | None = None
    light: list[str] | None = None
    category: str | None = None
    grid: str | None = None
    department: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    q: str | None = None


def filtered(actor: ActorContext, f: TicketFilter) -> Select[Ticket]:
    """SELECT tickets matching the filter within the actor's scope."""
    stmt = select(Ticket).where(visible_tickets(actor))
    if f.status:
        stmt = stmt.where(Ticket.status.in_(f.status))
    if f.light:
        stmt = stmt.where(Ticket.light.in_(f.light))
    if f.category:
        # A top-level code matches its subcategories too.
        from backend.db.models import Category

        subs = select(Category.code).where(Category.parent_code == f.category)
        stmt = stmt.where((Ticket.category_code == f.category) | Ticket.category_code.in_(subs))
    if f.grid:
        stmt = stmt.where(
            (Ticket.grid_code == f.grid)
            | (Ticket.community_code == f.grid)
            | (Ticket.street_code == f.grid)
            | (Ticket.area_code == f.grid)
        )
    if f.department:
        stmt = stmt.where(Ticket.department_code == f.department)
    if f.created_from:
        stmt = stmt.where(Ticket.created_at >= f.created_from)
    if f.created_to:
        stmt = stmt.where(Ticket.created_at < f.created_to)
    if f.q:
        like = f"%{f.q}%"
        stmt = stmt.where(Ticket.text.like(like) | Ticket.number.like(like))
    return stmt


def list_tickets(
    session: Session, actor: ActorContext, f: TicketFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[Ticket], bool]:
    """One page of tickets, newest first, and whether more follow."""
    stmt = filtered(actor, f).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit + 1).offset(offset)
    rows = list(session.scalars(stmt))
    return rows[:limit], len(rows) > limit


def counts(session: Session, actor: ActorContext, f: TicketFilter) -> dict[str, dict[str, int] | int]:
    """Counts by status, light, category and department within scope and filter."""
    base = filtered(actor, f).subquery()
    out: dict[str, dict[str, int] | int] = {}
    for key, col in (
        ("by_status", base.c.status),
        ("by_light", base.c.light),
        ("by_category", base.c.category_code),
        ("by_department", base.c.department_code),
    ):
        rows = session.execute(select(col, func.count()).group_by(col)).all()
        out[key] = {str(k): int(n) for k, n in rows if k is not None}
    out["total"] = int(session.scalar(select(func.count()).select_from(base)) or 0)
    return out

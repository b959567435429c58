"""The statistics page's grouped sums read from the rollups (backend/db/rollups.py) instead of the tickets.

`plan` answers the full local days of the period from the rollups and names what they cannot answer, for the
caller to compute from the tickets: the partial first and last day, and a staff member's own tickets outside
their area (the scope is "my area, or assigned to me"). It declines (None) filters the rollups do not carry —
status, light, category, text — a resident's view, and a time zone other than the rollups' own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, case, func, or_, select, true
from sqlalchemy.orm import Session

from backend.db.models import CategoryRollup, Ticket, TicketRollup
from backend.db.rollups import OPEN, rollup_timezone
from backend.domain.roles import Role
from backend.runtime import Runtime
from backend.services.actors import ActorContext
from backend.services.queries import TicketFilter, filtered

# Which column holds a role's scope, on the rollups and on the tickets.
_SCOPE_COLUMN = {
    Role.gridworker: "grid_code",
    Role.grid_leader: "community_code",
    Role.community_dispatcher: "community_code",
    Role.street_dispatcher: "street_code",
    Role.department_handler: "department_code",
}
_AREA_COLUMN = {"street": "street_code", "community": "community_code", "grid": "grid_code", "special": "grid_code"}


@dataclass
class Plan:
    """Grouped sums from the rollups, and the ticket queries for what they do not cover."""

    grid_dept: list[tuple[Any, ...]] = field(default_factory=list)  # grid, department, METRICS…
    ratings: list[tuple[Any, ...]] = field(default_factory=list)  # grid, department, ratings, good
    category: list[tuple[Any, ...]] = field(default_factory=list)  # code, n
    status: list[tuple[Any, ...]] = field(default_factory=list)
    day: list[tuple[Any, ...]] = field(default_factory=list)
    live: list[Select[Any]] = field(default_factory=list)
    categories_live: bool = False  # the category rollup has no grid: count categories from the tickets


def plan(session: Session, runtime: Runtime, actor: ActorContext, f: TicketFilter) -> Plan | None:
    """The rollup part of the statistics for this viewer and filter, or None when the rollups cannot answer."""
    tz = runtime.settings.timezone
    if tz != rollup_timezone() or f.status or f.light or f.category or f.q:
        return None
    everyone = actor.role in (Role.admin, Role.supervisor, Role.system)
    scope_column = _SCOPE_COLUMN.get(actor.role)
    if not everyone and (scope_column is None or not actor.scope_code):
        return None
    area_column = None
    if f.grid:
        area = runtime.city.areas.get(f.grid)
        area_column = _AREA_COLUMN.get(area.level) if area is not None else None
        if area_column is None:
            return None
    zone = ZoneInfo(tz)
    first, left = _first_full_day(f.created_from, zone)
    end, right = _end_full_day(f.created_to, zone)
    if first is not None and end is not None and first >= end:
        return None  # less than a day: the tickets answer quickly
    out = Plan(categories_live="grid_code" in (scope_column, area_column))

    def where(model: Any) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if first is not None:
            conds.append(model.day >= first)
        if end is not None:
            conds.append(model.day < end)
        if f.department:
            conds.append(model.department_code == f.department)
        for column, value in ((scope_column, actor.scope_code), (area_column, f.grid)):
            # The category rollup has no grid column: with a grid scope or filter, categories_live counts them.
            if column is not None and hasattr(model, column):
                conds.append(getattr(model, column) == value)
        return conds

    r = TicketRollup
    open_n = func.sum(case((r.status.in_(sorted(OPEN)), r.n), else_=0))
    closed_n = func.sum(case((r.status == "closed", r.n), else_=0))
    sums = [
        func.sum(r.n),
        open_n,
        func.sum(r.overdue),
        func.sum(r.resolved),
        func.sum(r.on_time),
        func.sum(r.with_due),
        func.sum(r.reopened),
        func.sum(r.reworks),
        func.sum(r.escalated),
        closed_n,
        func.sum(r.ever_resolved),
    ]
    conds = where(r)
    for grid, dept, *nums, ratings, good in session.execute(
        select(r.grid_code, r.department_code, *sums, func.sum(r.ratings), func.sum(r.good_ratings))
        .where(*conds)
        .group_by(r.grid_code, r.department_code)
    ):
        if nums[0]:
            out.grid_dept.append((grid or None, dept or None, *nums))
        if ratings:
            out.ratings.append((grid or None, dept or None, ratings, good))
    out.status = _counts(session, r.status, r.n, conds)
    out.day = [
        (d if isinstance(d, date) else date.fromisoformat(str(d)), n) for d, n in _counts(session, r.day, r.n, conds)
    ]
    if not out.categories_live:
        c = CategoryRollup
        out.category = [(code or None, n) for code, n in _counts(session, c.category_code, c.n, where(c))]
    out.live = [
        filtered(actor, TicketFilter(grid=f.grid, department=f.department, created_from=a, created_to=b))
        for a, b in (left, right)
        if a is not None or b is not None
    ]
    if not everyone and actor.staff_id is not None and scope_column is not None:
        out.live.append(_own_outside_scope(actor, scope_column, f, _midnight(first, zone), _midnight(end, zone)))
    return out


def _counts(session: Session, key: Any, n: Any, conds: list[ColumnElement[bool]]) -> list[tuple[Any, int]]:
    q = select(key, func.sum(n)).where(*conds).group_by(key)
    return [(k, int(total)) for k, total in session.execute(q) if total]


def _midnight(day: date | None, zone: ZoneInfo) -> datetime | None:
    return datetime.combine(day, time(0), zone) if day is not None else None


def _first_full_day(start: datetime | None, zone: ZoneInfo) -> tuple[date | None, tuple[Any, Any]]:
    """The first whole local day from `start`, and the partial day before it as a (from, to) range."""
    if start is None:
        return None, (None, None)
    local = start.astimezone(zone)
    day = local.date()
    if local.timetz().replace(tzinfo=None) == time(0):
        return day, (None, None)
    following = day + timedelta(days=1)
    return following, (start, _midnight(following, zone))


def _end_full_day(end: datetime | None, zone: ZoneInfo) -> tuple[date | None, tuple[Any, Any]]:
    """The day after the last whole local day before `end`, and the partial day from there as a range."""
    if end is None:
        return None, (None, None)
    local = end.astimezone(zone)
    day = local.date()
    if local.timetz().replace(tzinfo=None) == time(0):
        return day, (None, None)
    return day, (_midnight(day, zone), end)


def _own_outside_scope(
    actor: ActorContext, column: str, f: TicketFilter, start: datetime | None, end: datetime | None
) -> Select[Any]:
    """A staff member's own tickets outside their area, over the whole days the rollups answered."""
    scoped = getattr(Ticket, column)
    stmt = select(Ticket).where(Ticket.assignee_id == actor.staff_id, or_(scoped.is_(None), scoped != actor.scope_code))
    narrowed = filtered(
        ActorContext(role=Role.admin),
        TicketFilter(grid=f.grid, department=f.department, created_from=start, created_to=end),
    )
    return stmt.where(narrowed.whereclause if narrowed.whereclause is not None else true())

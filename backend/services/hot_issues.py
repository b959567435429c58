"""Hot issues of a period: the one place where the dashboard and 向群众汇报 ask nlp.hotissues about tickets.

The tickets are those of the filter within the actor's scope (the newest `MAX_TICKETS` of them, so a long period
stays fast); a ticket's place is its grid (else the place names in its text), its problem its category and text,
its resident the reporter (a patrol find counts as its own voice). The heat index is nlp.hotissues.heat_index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Area, Category
from backend.runtime import Runtime
from backend.services.actors import ActorContext
from backend.services.queries import TicketFilter, filtered
from nlp.hotissues import Report, find_hot_issues

MAX_TICKETS = 5000
WINDOW = timedelta(days=14)


@dataclass(frozen=True)
class HotIssueView:
    """A hot issue as a page shows it: where, what, how many, how hot."""

    place_code: str
    place_name: str
    category_code: str | None
    category_name: str | None
    keywords: tuple[str, ...]
    numbers: tuple[str, ...]  # ticket numbers, oldest first (staff pages only)
    reports: int
    residents: int
    first: datetime
    last: datetime
    heat: float


def hot_issues(
    session: Session, runtime: Runtime, actor: ActorContext, f: TicketFilter, *, top: int = 10
) -> list[HotIssueView]:
    """The hottest issues among the tickets of the filter within the actor's scope."""
    base = filtered(actor, f).subquery()
    rows = session.execute(
        select(
            base.c.number, base.c.text, base.c.reporter_id, base.c.created_at, base.c.grid_code, base.c.category_code
        )
        .order_by(base.c.created_at.desc())
        .limit(MAX_TICKETS)
    ).all()
    reports = [
        Report(
            id=number,
            text=text or "",
            reporter=f"p{reporter}" if reporter is not None else f"t{number}",
            at=created,
            place=grid,
            category=category,
        )
        for number, text, reporter, created, grid, category in rows
    ]
    found = find_hot_issues(reports, window=WINDOW, top=top)
    if not found:
        return []
    areas = {code: name for code, name in session.execute(select(Area.code, Area.name))}
    categories = {code: name for code, name in session.execute(select(Category.code, Category.name))}
    return [
        HotIssueView(
            place_code=h.place,
            place_name=areas.get(h.place, h.place),
            category_code=h.category,
            category_name=categories.get(h.category) if h.category else None,
            keywords=h.keywords,
            numbers=h.report_ids,
            reports=h.reports,
            residents=h.residents,
            first=h.first,
            last=h.last,
            heat=h.heat,
        )
        for h in found
    ]

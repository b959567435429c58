"""Collect (采集) and route (分流): a report becomes a numbered, categorised, routed ticket."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Category, Person, Ticket, TicketEvent
from backend.domain.errors import GuardFailed, NotFound
from backend.domain.roles import Role, Tier
from backend.domain.tickets import OPEN_STATUSES, Action
from backend.runtime import Runtime
from backend.services.actors import SYSTEM, ActorContext
from backend.services.numbering import next_ticket_number
from backend.services.workflow import apply_action

logger = logging.getLogger(__name__)

MAX_TEXT = 4000


@dataclass
class Placement:
    """Where a report is: the most specific area, its responsible grid, and how we know."""

    area_code: str | None = None
    grid_code: str | None = None
    source: str = "none"  # pin | text | home | patrol | none
    confidence: float = 0.0


@dataclass
class ReportIn:
    """A report as the intake takes it from any channel."""

    text: str
    channel: str
    reporter_id: int | None = None
    lon: float | None = None
    lat: float | None = None
    location_text: str | None = None
    area_code: str | None = None  # chosen by the reporter (e.g. a 小区 button)
    category_code: str | None = None  # confirmed by the reporter or staff, or already predicted
    category_confidence: float | None = None  # None with a category: confirmed by a person (1.0)
    urgent: bool | None = None  # None: decide from the text
    source: str = "resident"
    extra_notes: list[str] = field(default_factory=list)


@dataclass
class Triage:
    """What the nlp side says about a text before anything is stored."""

    category_code: str | None
    confidence: float
    top3: list[tuple[str, float]]
    urgent: bool
    urgency_kinds: tuple[str, ...]
    hotlines: tuple[str, ...]
    place: Placement


def triage(
    rt: Runtime,
    text: str,
    *,
    lon: float | None = None,
    lat: float | None = None,
    home_area: str | None = None,
    classify: bool = True,
) -> Triage:
    """Classify (unless told not to), locate and check urgency, without touching the database."""
    from nlp.urgency import detect

    category, confidence, top3 = None, 0.0, []
    if classify and rt.classifier is not None and text.strip():
        pred = rt.classifier.predict(text)
        category, confidence, top3 = pred.subcategory, float(pred.confidence), list(pred.top3)
    urgency = detect(text)
    return Triage(
        category,
        confidence,
        top3,
        urgency.is_urgent,
        urgency.kinds,
        urgency.hotlines,
        locate(rt, text=text, lon=lon, lat=lat, home_area=home_area),
    )


def locate(
    rt: Runtime,
    *,
    text: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
    area_code: str | None = None,
    home_area: str | None = None,
) -> Placement:
    """A pin first, then an area the reporter picked, then place words in the text, then their home."""
    if lon is not None and lat is not None:
        code = rt.grids.locate(lon, lat)
        if code is not None:
            return Placement(code, rt.grid_of(code), "pin", 1.0)
    if area_code and rt.grid_of(area_code):
        return Placement(area_code, rt.grid_of(area_code), "chosen", 1.0)
    if text and rt.places is not None:
        match = rt.places.best(text)
        if match is not None and rt.grid_of(match.area_code) and match.confidence >= 0.5:
            return Placement(match.area_code, rt.grid_of(match.area_code), "text", float(match.confidence))
    if home_area and rt.grid_of(home_area):
        return Placement(home_area, rt.grid_of(home_area), "home", 0.8)
    return Placement()


def submit_report(session: Session, rt: Runtime, report: ReportIn, *, actor: ActorContext | None = None) -> Ticket:
    """Create a ticket from a report and dispatch it when grid and category are known. Commits."""
    ticket = create_ticket(session, rt, report, actor=actor)
    session.commit()
    return ticket


def create_ticket(
    session: Session, rt: Runtime, report: ReportIn, *, actor: ActorContext | None = None, dispatch: bool = True
) -> Ticket:
    """The body of submit_report, without the commit (for callers that add more to the transaction).

    A report that already carries its category is not classified again; `dispatch=False` leaves the
    ticket submitted (e.g. when it is about to be merged into another).
    """
    text = (report.text or "").strip()
    if not text:
        raise GuardFailed("请描述一下您要反映的问题")
    if len(text) > MAX_TEXT:
        raise GuardFailed(f"描述太长了（最多 {MAX_TEXT} 字）")
    home = None
    if report.reporter_id is not None:
        reporter = session.get(Person, report.reporter_id)
        if reporter is None:
            raise NotFound("反映人不存在")
        home = reporter.home_area_code
    tri = triage(rt, text, lon=report.lon, lat=report.lat, home_area=home, classify=not report.category_code)
    place = tri.place
    if report.area_code or (report.lon is None and report.location_text):
        chosen = locate(rt, area_code=report.area_code, text=report.location_text)
        if chosen.grid_code:
            place = chosen
    category_code = report.category_code or tri.category_code
    category = session.get(Category, category_code) if category_code else None
    if report.category_code and (category is None or category.parent_code is None):
        raise NotFound(f"没有这个事项分类：{report.category_code}")
    urgent = tri.urgent if report.urgent is None else report.urgent
    now = rt.clock.now()
    ticket = Ticket(
        number=next_ticket_number(
            session, prefix=rt.settings.ticket_number_prefix, now=now, timezone=rt.city.calendar.timezone
        ),
        channel=report.channel,
        reporter_id=report.reporter_id,
        source=report.source,
        text=text,
        category_code=category.code if category else None,
        category_confidence=(report.category_confidence or 1.0) if report.category_code else tri.confidence,
        priority="urgent" if urgent else "normal",
        lon=report.lon,
        lat=report.lat,
        location_text=report.location_text,
        area_code=place.area_code,
        grid_code=place.grid_code,
        community_code=rt.ancestor_at(place.grid_code, "community"),
        street_code=rt.ancestor_at(place.grid_code, "street"),
        department_code=category.department_code if category else None,
        tier=(category.tier if category and category.tier else Tier.grid.value),
        status="submitted",
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    session.flush()
    who = actor or SYSTEM
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            at=now,
            actor_id=who.person_id or report.reporter_id,
            actor_role=(who.role if actor else Role.resident).value,
            action="submit",
            from_status=None,
            to_status="submitted",
            note=None,
            data={
                "place_source": place.source,
                "confidence": round(tri.confidence, 3),
                "top3": [[c, round(p, 3)] for c, p in tri.top3],
                "urgency": list(tri.urgency_kinds),
            },
        )
    )
    session.flush()
    if dispatch and ticket.grid_code and ticket.category_code:
        apply_action(session, rt, ticket, Action.dispatch, SYSTEM, reason="自动分拨")
    return ticket


def open_duplicates(session: Session, rt: Runtime, ticket: Ticket) -> list[tuple[Ticket, float]]:
    """Open tickets in the same grid and category that this one likely repeats, best first."""
    from nlp.duplicates import Candidate

    if not ticket.grid_code or not ticket.category_code:
        return []
    rows = session.scalars(
        select(Ticket)
        .where(
            Ticket.grid_code == ticket.grid_code,
            Ticket.category_code == ticket.category_code,
            Ticket.id != ticket.id,
            Ticket.status.in_([s.value for s in OPEN_STATUSES]),
        )
        .order_by(Ticket.id.desc())
        .limit(200)
    ).all()
    by_id = {str(t.id): t for t in rows}
    cands = [
        Candidate(
            id=str(t.id),
            text=t.text,
            grid_code=t.grid_code or "",
            category=t.category_code or "",
            created_at=t.created_at,
        )
        for t in rows
    ]
    new = Candidate(
        id=str(ticket.id),
        text=ticket.text,
        grid_code=ticket.grid_code,
        category=ticket.category_code,
        created_at=ticket.created_at,
    )
    return [(by_id[i], s) for i, s in rt.duplicates.find(new, cands, rt.clock.now())]

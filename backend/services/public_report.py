"""向群众汇报: the periodic public report of an area — what was reported, fixed, how fast, how satisfied, the
hot issues — as a public page and as a push to residents who asked for it, in their channel and language.

The figures are the statistics page's (backend.dashboard.stats.compute_statistics, from the rollups) over the
seven local days before today, counted for everyone (no personal data: counts, rates and category names).
Its hot issues come from backend.services.hot_issues, as on the statistics page, shown by place, kind and counts
only: no keywords from the residents' texts and no ticket numbers.
A resident subscribes for their home community (else the community of their latest report, else the district);
one push per subscriber and ISO week (the outbox key), however often the job runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backend.db.models import Notification, Person, ReportSubscription, Ticket
from backend.domain.errors import NotFound
from backend.domain.notifications import NoticeKind
from backend.domain.roles import Role
from backend.runtime import Runtime
from backend.services.actors import ActorContext
from backend.services.hot_issues import hot_issues
from backend.services.notify import notify_person
from backend.services.queries import TicketFilter

PERIOD_DAYS = 7
PUBLIC_HOT_ISSUES = 5
PUBLIC_LEVELS = ("district", "street", "community")
_EVERYONE = ActorContext(role=Role.system, name="向群众汇报")


@dataclass(frozen=True)
class PublicHotIssue:
    """A hot issue as the public sees it: place, kind of problem and counts (no texts, numbers or people)."""

    place: str
    category_code: str | None
    reports: int
    residents: int
    heat: float


@dataclass(frozen=True)
class PublicReport:
    """The figures of one area's public report."""

    area_code: str
    area_name: str
    start: date  # first local day
    end: date  # last local day (inclusive)
    reported: int
    fixed: int  # of the reported, how many stand resolved, verified or closed
    median_hours: float | None
    on_time_rate: float | None
    satisfaction_rate: float | None
    hot: tuple[tuple[str, int], ...]  # subcategory code, reports: the five most reported
    hot_issues: tuple[PublicHotIssue, ...] = ()  # same place, same problem, many residents (hottest first)

    def payload(self, base_url: str) -> dict[str, Any]:
        """The outbox payload (JSON-safe) of this report."""
        data = asdict(self)
        data.update(start=self.start.isoformat(), end=self.end.isoformat(), hot=[list(h) for h in self.hot])
        data["hot_issues"] = [asdict(h) for h in self.hot_issues]
        data["url"] = f"{base_url.rstrip('/')}/public/reports/{self.area_code}"
        return data


def period_before(now: datetime, timezone: str, days: int = PERIOD_DAYS) -> tuple[date, date]:
    """The `days` local days before today: (first, last)."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    return today - timedelta(days=days), today - timedelta(days=1)


def public_areas(runtime: Runtime) -> list[tuple[str, str, str]]:
    """(code, name, level) of the areas with a public report: the district, its streets and communities."""
    areas = [a for a in runtime.city.areas.values() if a.level in PUBLIC_LEVELS]
    order = {level: i for i, level in enumerate(PUBLIC_LEVELS)}
    return [(a.code, a.name, a.level) for a in sorted(areas, key=lambda a: (order[a.level], a.code))]


def build_report(session: Session, runtime: Runtime, area_code: str, now: datetime) -> PublicReport:
    """The public report of an area (district, street or community) for the seven days before today."""
    from backend.dashboard.stats import compute_statistics

    area = runtime.city.areas.get(area_code)
    if area is None or area.level not in PUBLIC_LEVELS:
        raise NotFound("error.area_not_found", area=area_code)
    tz = runtime.settings.timezone
    start, end = period_before(now, tz)
    zone = ZoneInfo(tz)
    period = TicketFilter(
        grid=None if area.level == "district" else area_code,
        created_from=datetime.combine(start, time(0), zone),
        created_to=datetime.combine(end + timedelta(days=1), time(0), zone),
    )
    stats = compute_statistics(session, runtime, _EVERYONE, period)
    issues = hot_issues(session, runtime, _EVERYONE, period, top=PUBLIC_HOT_ISSUES)
    fixed = sum(stats.by_status.get(s, 0) for s in ("resolved", "verified", "closed"))
    return PublicReport(
        area_code=area_code,
        area_name=area.name,
        start=start,
        end=end,
        reported=stats.total,
        fixed=fixed,
        median_hours=stats.median_handling_hours,
        on_time_rate=stats.on_time_rate,
        satisfaction_rate=stats.satisfaction_rate,
        hot=tuple((code, n) for code, _name, n in stats.by_subcategory[:5] if code),
        hot_issues=tuple(PublicHotIssue(h.place_name, h.category_code, h.reports, h.residents, h.heat) for h in issues),
    )


def area_for(session: Session, runtime: Runtime, person_id: int) -> str:
    """The area a resident's report is about: their home community, else their latest report's, else the district."""
    person = session.get(Person, person_id)
    home = person.home_area_code if person is not None else None
    latest = session.scalar(
        select(Ticket.grid_code)
        .where(Ticket.reporter_id == person_id, Ticket.grid_code.is_not(None))
        .order_by(Ticket.id.desc())
        .limit(1)
    )
    for code in (home, latest):
        community = runtime.ancestor_at(code, "community") if code else None
        if community is not None:
            return community
    return next(code for code, _name, level in public_areas(runtime) if level == "district")


def subscribe(session: Session, runtime: Runtime, person_id: int, channel: str) -> str:
    """Subscribe a resident to their area's weekly report in this channel (again: update it); the area code."""
    area = area_for(session, runtime, person_id)
    row = session.scalar(select(ReportSubscription).where(ReportSubscription.person_id == person_id))
    if row is None:
        session.add(
            ReportSubscription(person_id=person_id, area_code=area, channel=channel, created_at=runtime.clock.now())
        )
    else:
        row.area_code, row.channel = area, channel
    session.flush()
    return area


def unsubscribe(session: Session, person_id: int) -> bool:
    """Stop a resident's report; whether they had one."""
    gone = session.execute(delete(ReportSubscription).where(ReportSubscription.person_id == person_id))
    return bool(getattr(gone, "rowcount", 0))


def queue_public_reports(session: Session, runtime: Runtime, now: datetime) -> int:
    """Queue this week's report to every subscriber who has not had it (the caller commits); how many queued."""
    week = period_before(now, runtime.settings.timezone)[1].strftime("%G-W%V")
    reports: dict[str, PublicReport] = {}
    queued = 0
    for sub in session.scalars(select(ReportSubscription).order_by(ReportSubscription.id)):
        person = session.get(Person, sub.person_id)
        if person is None or person.erased_at is not None or sub.area_code not in runtime.city.areas:
            continue
        key = f"report:{week}:p{person.id}"
        if session.scalar(select(Notification.id).where(Notification.key == key)) is not None:
            continue
        if sub.area_code not in reports:
            reports[sub.area_code] = build_report(session, runtime, sub.area_code, now)
        row = notify_person(
            session,
            person=person,
            kind=NoticeKind.public_report,
            key=key,
            ticket=None,
            payload=reports[sub.area_code].payload(runtime.settings.public_url),
            channel=sub.channel,
        )
        queued += row is not None
    session.flush()
    return queued

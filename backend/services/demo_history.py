"""A demo city's past: a deterministic, realistic history of reports worked through the real services.

Nothing here writes a ticket row or an audit event itself: reports go through `intake.create_ticket`, every
move through `workflow.apply_action` (permissions, the state machine, one audit event, the notifications),
ratings through `feedback.rate` and the lights, 督办 reminders and 吹哨 through the SLA job, each with a
simulated clock that walks through the days. A discrete-event loop keeps the moves of all tickets in time
order, so the SLA job sees the city as it was at each tick.
"""

from __future__ import annotations

import csv
import heapq
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.db.models import Category, Notification, Person, Staff, Ticket
from backend.domain.errors import DomainError, GuardFailed
from backend.domain.tickets import Action, TicketStatus
from backend.runtime import Runtime
from backend.services.actors import SYSTEM, ActorContext
from backend.services.assignment import choose_verifier, dispatchers_for
from backend.services.feedback import rate
from backend.services.intake import ReportIn, create_ticket
from backend.services.people import resident_actor, staff_actor
from backend.services.sla_job import SlaTickSummary, check_next_batch
from backend.services.workflow import apply_action

logger = logging.getLogger(__name__)

# A case that needs this many times its time limit is stuck (it waits on another party) and stays open: the demo
# then has late, red work to show, as every city has.
STUCK_WORK_FACTOR = 1.2
HISTORY_WORKER = "demo-history"  # marks the notifications of the simulated past as recorded, not sent
SLA_TICK = timedelta(hours=2)
_CHANNELS = ("wechat", "wechat", "wechat", "telegram", "wecom")


class SteppedClock:
    """A clock the simulation moves forward."""

    def __init__(self, start: datetime) -> None:
        self.at = start

    def now(self) -> datetime:
        """The simulated present."""
        return self.at


@dataclass(frozen=True)
class HistoryPlan:
    """How much history to make: days before `end`, mean reports a weekday, residents, and the seed."""

    end: datetime
    days: int = 90
    per_day: float = 12.0
    residents: int = 240
    seed: int = 18


@dataclass
class HistorySummary:
    """What a history run made."""

    tickets: int = 0
    moves: int = 0
    ratings: int = 0
    reopened: int = 0
    escalations: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # "action: error code" → how often the rules said no
    notifications_recorded: int = 0
    sla: SlaTickSummary = field(default_factory=SlaTickSummary)


@dataclass(frozen=True)
class _Profile:
    """What kind of case a ticket will be, drawn once when it is reported."""

    work_factor: float  # share of the time limit the handler needs
    verify_fails: bool
    rating: str | None  # None: the resident does not rate; the dispatcher closes it
    whistle: bool  # the handler blows the whistle (吹哨) instead of working it
    cancel: bool
    extension: bool


def texts_by_category(seed_dir: Path, known: set[str]) -> dict[str, list[str]]:
    """Our own labelled messages (config/seed_corpus) by subcategory, as report texts."""
    texts: dict[str, list[str]] = {}
    for path in sorted(seed_dir.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                label, text = (row.get("label") or "").strip(), (row.get("text") or "").strip()
                if label in known and 8 <= len(text) <= 600:
                    texts.setdefault(label, []).append(text)
    return texts


class DemoHistory:
    """One run of the simulation: `days()` makes it day by day; `summary` says what it made."""

    def __init__(self, session: Session, runtime: Runtime, plan: HistoryPlan) -> None:
        self.session, self.plan = session, plan
        self.rng = random.Random(plan.seed)
        self.clock = SteppedClock(plan.end - timedelta(days=plan.days))
        self.runtime = replace(runtime, clock=self.clock)
        self.summary = HistorySummary()
        self.queue: list[tuple[datetime, int, str, int]] = []
        self.seq = 0
        self.profiles: dict[int, _Profile] = {}
        categories = session.scalars(
            select(Category).where(Category.parent_code.is_not(None), Category.department_code.is_not(None))
        ).all()
        self.texts = texts_by_category(runtime.settings.config_dir / "seed_corpus", {c.code for c in categories})
        codes = sorted(self.texts)
        # A few categories dominate a real city's reports (garbage, parking, noise …): skewed weights.
        self.categories = codes
        self.category_weights = [self.rng.paretovariate(1.2) for _ in codes]
        self.self_close = {c.code for c in categories if c.self_close}
        grids = sorted(a.code for a in runtime.city.areas.values() if a.level == "grid")
        self.grids = grids
        self.grid_weights = [self.rng.uniform(0.3, 2.0) for _ in grids]
        self.residents: list[Person] = []
        self.patrol_categories = [c for c in codes if c in self.self_close]
        self.gridworkers = {
            staff.scope_code: staff
            for staff in session.scalars(select(Staff).where(Staff.role == "gridworker", Staff.active.is_(True)))
            if staff.scope_code
        }

    # -- the loop ---------------------------------------------------------------------------------
    def days(self) -> Iterator[int]:
        """Make the history, yielding the number of days done after each day (the caller may commit)."""
        if self.session.scalar(select(Ticket.id).limit(1)) is not None:
            raise GuardFailed("error.demo_history_not_empty")
        self._make_residents()
        start = self.clock.at
        for day in range(self.plan.days):
            self._plan_reports(start + timedelta(days=day))
        tick = start + SLA_TICK
        day_end = start + timedelta(days=1)
        days_done = 0
        while days_done < self.plan.days:
            next_event = self.queue[0][0] if self.queue else self.plan.end
            if min(tick, day_end) <= next_event:
                if tick <= day_end:
                    self._sla_tick(tick)
                    tick += SLA_TICK
                else:
                    days_done += 1
                    day_end += timedelta(days=1)
                    yield days_done
                continue
            at, _, kind, ticket_id = heapq.heappop(self.queue)
            if at >= self.plan.end:
                continue
            self.clock.at = at
            if kind == "report":
                self._report(ticket_id)
            else:
                self._next_move(ticket_id)
        self.clock.at = self.plan.end
        self._sla_tick(self.plan.end)
        self.summary.notifications_recorded = self._record_notifications()

    def _push(self, at: datetime, kind: str, ref: int) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, kind, ref))

    def _make_residents(self) -> None:
        for i in range(self.plan.residents):
            person = Person(kind="resident", name=f"居民{i + 1:03d}", home_area_code=self.rng.choice(self.grids))
            self.session.add(person)
            self.residents.append(person)
        self.session.flush()

    def _plan_reports(self, day: datetime) -> None:
        weekend = day.weekday() >= 5
        trend = 0.8 + 0.4 * (day - self.clock.at).days / max(self.plan.days, 1)  # busier towards today
        mean = self.plan.per_day * trend * (0.6 if weekend else 1.0)
        count = max(0, round(self.rng.gauss(mean, mean**0.5)))
        for _ in range(count):
            # Reports come mostly in the daytime (08–21h local = 00–13h UTC in China).
            hour = self.rng.triangular(0.0, 14.0, 3.0)
            self._push(day + timedelta(hours=hour), "report", 0)

    def _report(self, _ref: int) -> None:
        rng = self.rng
        category = rng.choices(self.categories, self.category_weights)[0]
        grid = rng.choices(self.grids, self.grid_weights)[0]
        lon, lat = self._point_in(grid)
        patroller = self.gridworkers.get(grid) if rng.random() < 0.12 and self.patrol_categories else None
        if patroller is not None:
            # A gridworker's patrol find (巡查上报): the small things a gridworker may fix and close at once.
            category = rng.choice(self.patrol_categories)
            report = ReportIn(
                text=rng.choice(self.texts[category]),
                channel="wecom",
                reporter_id=patroller.person_id,
                lon=lon,
                lat=lat,
                category_code=category,
                source="patrol",
            )
            ticket = create_ticket(self.session, self.runtime, report, actor=staff_actor(patroller))
        else:
            report = ReportIn(
                text=rng.choice(self.texts[category]),
                channel=rng.choice(_CHANNELS),
                reporter_id=rng.choice(self.residents).id,
                lon=lon,
                lat=lat,
                category_code=category,
                urgent=rng.random() < 0.05,
            )
            ticket = create_ticket(self.session, self.runtime, report)
        self.summary.tickets += 1
        self.profiles[ticket.id] = _Profile(
            work_factor=rng.lognormvariate(-0.9, 0.6),  # median ~40 % of the limit, ~7 % over it
            verify_fails=rng.random() < 0.08,
            rating=rng.choices(("satisfied", "basically_satisfied", "dissatisfied", None), (0.62, 0.16, 0.08, 0.14))[0],
            whistle=rng.random() < 0.04,
            cancel=rng.random() < 0.02,
            extension=rng.random() < 0.03,
        )
        self._push(self.clock.at + self._delay(0.3, 2.0), "move", ticket.id)

    def _delay(self, low_hours: float, high_hours: float) -> timedelta:
        return timedelta(hours=self.rng.uniform(low_hours, high_hours))

    def _point_in(self, grid: str) -> tuple[float, float]:
        area = self.runtime.city.areas[grid]
        minx, miny, maxx, maxy = area.geometry.bounds
        for _ in range(50):
            lon, lat = self.rng.uniform(minx, maxx), self.rng.uniform(miny, maxy)
            found = self.runtime.grids.locate(lon, lat)
            if found is not None and self.runtime.grid_of(found) == grid:
                return round(lon, 6), round(lat, 6)
        point = area.geometry.representative_point()
        return point.x, point.y

    # -- one ticket's next move -------------------------------------------------------------------
    def _next_move(self, ticket_id: int) -> None:
        ticket = self.session.get(Ticket, ticket_id)
        if ticket is None:
            return
        profile = self.profiles[ticket_id]
        status = TicketStatus(ticket.status)
        assignee = self.session.get(Staff, ticket.assignee_id) if ticket.assignee_id else None
        later: tuple[float, float] | None = None
        if status is TicketStatus.dispatched and assignee is not None:
            if profile.cancel and ticket.reopen_count == 0:
                self._as_reporter(ticket, Action.cancel, reason="问题已自行解决")
                return
            if profile.whistle and ticket.tier == "grid":
                self._apply(ticket, Action.escalate, staff_actor(assignee), reason="网格内无法处置，吹哨报到")
                self.summary.escalations += 1
                later = (0.5, 3.0)
            else:
                self._apply(ticket, Action.accept, staff_actor(assignee))
                later = (0.2, 2.0)
        elif status is TicketStatus.accepted and assignee is not None:
            if ticket.source == "patrol" and assignee.role == "gridworker" and self.rng.random() < 0.6:
                self._apply(ticket, Action.self_close, staff_actor(assignee), reason="自办自结：现场已处置")
                return
            self._apply(ticket, Action.start, staff_actor(assignee))
            later = self._work_time(ticket, profile)
        elif status is TicketStatus.in_progress and assignee is not None:
            if profile.work_factor > STUCK_WORK_FACTOR:
                later = (12.0, 24.0)  # waiting on another party: still open, and running late, when the demo ends
            elif profile.extension and ticket.rework_count == 0 and not ticket.status_before_hold:
                self._apply(ticket, Action.request_extension, staff_actor(assignee), reason="需协调物业，申请延期")
                self.profiles[ticket_id] = replace(profile, extension=False)
                later = (1.0, 6.0)
            else:
                self._apply(ticket, Action.resolve, staff_actor(assignee), reason="已处置完毕")
                later = (1.0, 10.0)
        elif status is TicketStatus.extension_requested:
            deciders = dispatchers_for(self.session, self.runtime, ticket)
            if deciders:
                self._apply(ticket, Action.approve_extension, staff_actor(deciders[0]), data={"hours": 16}, reason=None)
            later = self._work_time(ticket, profile)
        elif status is TicketStatus.resolved:
            verifier = choose_verifier(self.session, self.runtime, ticket)
            if verifier is not None:
                if profile.verify_fails and ticket.rework_count == 0:
                    self._apply(ticket, Action.reject_verification, staff_actor(verifier), reason="现场复核未整改到位")
                    later = self._work_time(ticket, profile)
                else:
                    self._apply(ticket, Action.verify, staff_actor(verifier))
                    later = (2.0, 30.0)
        elif status is TicketStatus.verified:
            later = self._feedback(ticket, profile)
        elif status is TicketStatus.returned:
            deciders = dispatchers_for(self.session, self.runtime, ticket)
            if deciders:
                self._apply(ticket, Action.dispatch, staff_actor(deciders[0]))
                later = (0.3, 2.0)
        if TicketStatus(ticket.status) in (TicketStatus.closed, TicketStatus.cancelled):
            return
        # A ticket nobody could move now (no handler, a refused move, 吹哨 by the SLA job) is looked at again.
        later = later or (4.0, 12.0)
        self._push(self.clock.at + self._delay(*later), "move", ticket_id)

    def _work_time(self, ticket: Ticket, profile: _Profile) -> tuple[float, float]:
        category = self.session.get(Category, ticket.category_code) if ticket.category_code else None
        limit = (category.hours_normal if category and category.hours_normal else 24.0) * (
            0.3 if ticket.priority == "urgent" else 1.0
        )
        # Working hours stretch over nights and weekends: about three calendar hours per working hour.
        hours = max(0.3, limit * profile.work_factor * 2.5)
        return hours * 0.8, hours * 1.2

    def _feedback(self, ticket: Ticket, profile: _Profile) -> tuple[float, float] | None:
        reporter = self.session.get(Person, ticket.reporter_id) if ticket.reporter_id else None
        score = profile.rating
        if score is None or reporter is None or reporter.kind != "resident":
            dispatchers = dispatchers_for(self.session, self.runtime, ticket)
            actor = staff_actor(dispatchers[0]) if dispatchers else SYSTEM
            self._apply(ticket, Action.close, actor, reason="群众未评价，到期办结")
            return None
        try:
            rate(self.session, self.runtime, ticket.number, resident_actor(reporter), score=score)
        except DomainError as exc:
            self._refused("rate", exc)
            return None
        self.summary.ratings += 1
        self.summary.moves += 1
        if score == "dissatisfied":
            self.summary.reopened += 1
            # The next round usually satisfies the resident.
            self.profiles[ticket.id] = replace(profile, rating="basically_satisfied", verify_fails=False)
            return (0.3, 2.0)
        return None

    def _as_reporter(self, ticket: Ticket, action: Action, *, reason: str) -> None:
        reporter = self.session.get(Person, ticket.reporter_id) if ticket.reporter_id else None
        if reporter is not None:
            self._apply(ticket, action, resident_actor(reporter), reason=reason)

    def _apply(
        self,
        ticket: Ticket,
        action: Action,
        actor: ActorContext,
        *,
        reason: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        try:
            apply_action(self.session, self.runtime, ticket, action, actor, reason=reason, data=data)
        except DomainError as exc:
            self._refused(action.value, exc)
            return
        self.summary.moves += 1

    def _refused(self, action: str, exc: DomainError) -> None:
        key = f"{action}: {exc.code}"
        self.summary.refused[key] = self.summary.refused.get(key, 0) + 1

    def _sla_tick(self, at: datetime) -> None:
        self.clock.at = at
        last: int | None = 0
        while last is not None:
            last = check_next_batch(self.session, self.runtime, self.summary.sla, after_id=last)

    def _record_notifications(self) -> int:
        """The past's notifications were due long ago: record them as handled, so no worker sends them now."""
        result = self.session.execute(
            update(Notification)
            .where(Notification.status == "pending", Notification.ticket_id.is_not(None))
            .values(status="sent", sent_at=Notification.created_at, lease_owner=HISTORY_WORKER)
        )
        return int(getattr(result, "rowcount", 0) or 0)

"""Statistics of the operations centre: counts, handling figures, 绩效考评 tables and hot topics.

Every figure is computed within the viewer's scope and the queue filter (backend.services.queries),
with a few grouped queries that let the database do the work, so the page stays fast on a million
tickets: whole local days are summed from the statistics rollups (backend/db/rollups.py, via
backend/dashboard/rollup_stats.py) where the filter allows, the rest from the tickets. Definitions:

- resolved: resolved, verified or closed now (a reopened ticket is open again until re-resolved);
- handling time: resolved_at − created_at of resolved tickets (median, hours);
- on-time rate: among resolved tickets that had a due time, the share resolved by it;
- satisfaction rate: ratings "satisfied" or "basically_satisfied" over all ratings;
- reopen rate: tickets reopened at least once over tickets ever resolved;
- reworks (重办): failed checks (核查不通过) that sent a ticket back to its handler, summed; shown in the
  考评 tables beside the reopens, not weighted into the score;
- escalations: tickets escalated (吹哨) at least once;
- assessment score (0–100): 40 × on-time rate + 40 × satisfaction rate + 20 × closure rate, where a
  missing rate (nothing resolved or rated yet) counts as 1 so a new grid is not punished for it.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, and_, case, cast, func, literal_column, select, text, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from backend.dashboard import rollup_stats
from backend.db.models import Area, Category, Department, Rating
from backend.domain.tickets import OPEN_STATUSES
from backend.runtime import Runtime
from backend.services.actors import ActorContext
from backend.services.queries import TicketFilter, filtered

logger = logging.getLogger(__name__)

OPEN = sorted(s.value for s in OPEN_STATUSES)
DONE = ("resolved", "verified", "closed")
GOOD_SCORES = ("satisfied", "basically_satisfied")
HOT_TEXT_SAMPLE = 500  # newest texts of the period tokenised for key phrases (a sample: fast on any period)


@dataclass
class Assessment:
    """One row of the 绩效考评 table (a grid or a department)."""

    code: str
    name: str
    total: int = 0
    open: int = 0
    overdue: int = 0
    resolved: int = 0
    on_time: int = 0
    with_due: int = 0
    reopened: int = 0
    reworks: int = 0
    escalated: int = 0
    closed: int = 0
    ever_resolved: int = 0
    ratings: int = 0
    good_ratings: int = 0

    @property
    def on_time_rate(self) -> float | None:
        """Share of resolved tickets with a due time that were resolved in time."""
        return self.on_time / self.with_due if self.with_due else None

    @property
    def satisfaction_rate(self) -> float | None:
        """Share of ratings that were satisfied or basically satisfied."""
        return self.good_ratings / self.ratings if self.ratings else None

    @property
    def closure_rate(self) -> float | None:
        """Share of tickets resolved (or later)."""
        return self.resolved / self.total if self.total else None

    @property
    def score(self) -> float:
        """The composite assessment score, 0–100."""
        parts = [(self.on_time_rate, 40), (self.satisfaction_rate, 40), (self.closure_rate, 20)]
        return round(sum((1.0 if rate is None else rate) * weight for rate, weight in parts), 1)


@dataclass
class Statistics:
    """Everything the statistics page shows."""

    total: int
    open: int
    overdue: int
    by_category: list[tuple[str, str, int]]  # (code, name, count), top-level categories, biggest first
    by_subcategory: list[tuple[str, str, int]]
    by_grid: list[tuple[str, str, int]]
    by_department: list[tuple[str, str, int]]
    by_day: list[tuple[date, int]]
    by_status: dict[str, int]
    median_handling_hours: float | None
    on_time_rate: float | None
    satisfaction_rate: float | None
    reopen_rate: float | None
    reworks: int
    escalations: int
    grid_table: list[Assessment]
    department_table: list[Assessment]
    hot_phrases: list[tuple[str, int]] = field(default_factory=list)


def _local_day(session: Session, runtime: Runtime, column: Any) -> ColumnElement[Any]:
    """A UTC timestamp column as a local calendar day, per dialect."""
    tz = runtime.settings.timezone
    if _is_postgres(session):
        return func.date(func.timezone(tz, column))
    offset = datetime.now(ZoneInfo(tz)).utcoffset() or timedelta(0)
    hours = int(offset.total_seconds() // 3600)
    return func.date(column, f"{hours:+d} hours")


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _hours_between(session: Session, start: Any, end: Any) -> ColumnElement[Any]:
    if _is_postgres(session):
        return func.extract("epoch", end - start) / 3600.0
    return (func.julianday(end) - func.julianday(start)) * 24.0


def _names(session: Session, model: Any) -> dict[str, str]:
    return {code: name for code, name in session.execute(select(model.code, model.name))}


def _metrics(base: Any) -> list[ColumnElement[Any]]:
    """The per-group sums of an Assessment, in METRICS order."""
    is_open = base.c.status.in_(OPEN)
    # A reopened ticket keeps its old resolved_at: only tickets that stand resolved count as resolved.
    resolved = and_(base.c.resolved_at.is_not(None), base.c.status.in_(DONE))
    with_due = and_(resolved, base.c.due_at.is_not(None))

    def n(cond: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.sum(case((cond, 1), else_=0))

    return [
        func.count(),
        n(is_open),
        n(and_(is_open, base.c.light == "red")),
        n(resolved),
        n(and_(with_due, base.c.resolved_at <= base.c.due_at)),
        n(with_due),
        n(base.c.reopen_count > 0),
        func.sum(base.c.rework_count),
        n(base.c.escalated_at.is_not(None)),
        n(base.c.status == "closed"),
        n(base.c.resolved_at.is_not(None)),
    ]


METRICS = (
    "total",
    "open",
    "overdue",
    "resolved",
    "on_time",
    "with_due",
    "reopened",
    "reworks",
    "escalated",
    "closed",
    "ever_resolved",
)


def _ratings(session: Session, base: Any) -> list[tuple[Any, ...]]:
    """(grid, department, ratings, good ratings) of the tickets in base."""
    good = func.sum(case((Rating.score.in_(GOOD_SCORES), 1), else_=0))
    q = (
        select(base.c.grid_code, base.c.department_code, func.count(Rating.id), good)
        .join(Rating, Rating.ticket_id == base.c.id)
        .group_by(base.c.grid_code, base.c.department_code)
    )
    return [tuple(r) for r in session.execute(q)]


def _fill(row: Assessment, nums: Any) -> Assessment:
    for name, value in zip(METRICS + ("ratings", "good_ratings"), nums, strict=True):
        setattr(row, name, int(value or 0))
    return row


@dataclass
class _Groups:
    """Raw grouped sums: by (grid, department), category, status and day, plus the median handling hours."""

    grid_dept: list[tuple[Any, ...]] = field(default_factory=list)
    ratings: list[tuple[Any, ...]] = field(default_factory=list)
    category: list[tuple[Any, ...]] = field(default_factory=list)
    status: list[tuple[Any, ...]] = field(default_factory=list)
    day: list[tuple[Any, ...]] = field(default_factory=list)
    median: float | None = None


def _grouped(session: Session, runtime: Runtime, base: Any) -> _Groups:
    """Every grouped figure: assessment sums per (grid, department), counts per category, status and day."""
    day = _local_day(session, runtime, base.c.created_at)
    keys = [base.c.grid_code, base.c.department_code, base.c.category_code, base.c.status, day]
    metrics = _metrics(base)
    out = _Groups()
    if _is_postgres(session):
        # The assessment sums per (grid, department); plain counts for the other groupings in one more pass
        # (GROUPING SETS would compute every sum for every set).
        out.grid_dept = [
            tuple(r) for r in session.execute(select(keys[0], keys[1], *metrics).group_by(keys[0], keys[1]))
        ]
        sets = func.grouping_sets(tuple_(keys[2]), tuple_(keys[3]), tuple_(keys[4]))
        q = select(func.grouping(keys[2], keys[3], keys[4]), keys[2], keys[3], keys[4], func.count()).group_by(sets)
        for mask, cat, status, day, n in session.execute(q):
            # grouping() sets a bit (leftmost key = highest bit) for every key NOT in the row's set.
            if mask == 0b011:
                out.category.append((cat, n))
            elif mask == 0b101:
                out.status.append((status, n))
            elif mask == 0b110:
                out.day.append((day, n))
        out.ratings = _ratings(session, base)
        return out
    out.grid_dept = [tuple(r) for r in session.execute(select(keys[0], keys[1], *metrics).group_by(keys[0], keys[1]))]
    out.category = [tuple(r) for r in session.execute(select(keys[2], *metrics).group_by(keys[2]))]
    out.status = [tuple(r) for r in session.execute(select(keys[3], *metrics).group_by(keys[3]))]
    out.day = [tuple(r) for r in session.execute(select(day.label("d"), *metrics).group_by(literal_column("d")))]
    out.ratings = _ratings(session, base)
    return out


def _median_hours(session: Session, base: Any) -> float | None:
    """The median handling time (created → resolved, hours) of the tickets in base that stand resolved."""
    done = and_(base.c.resolved_at.is_not(None), base.c.status.in_(DONE))
    hours = _hours_between(session, base.c.created_at, base.c.resolved_at)
    if _is_postgres(session):
        med = session.scalar(select(func.percentile_cont(0.5).within_group(cast(hours, Float))).where(done))
        return round(float(med), 2) if med is not None else None
    values = [float(v) for v in session.scalars(select(hours).where(done)) if v is not None]
    return round(statistics.median(values), 2) if values else None


def _from_rollups(session: Session, runtime: Runtime, base: Any, rolled: rollup_stats.Plan) -> _Groups:
    """The grouped figures from the rollups, plus what they leave to the tickets (partial days, own tickets)."""
    parts = [_Groups(rolled.grid_dept, rolled.ratings, rolled.category, rolled.status, rolled.day)]
    parts += [_grouped(session, runtime, stmt.subquery()) for stmt in rolled.live]
    if rolled.categories_live:
        # Every category is counted from the tickets then, the partial days' and own tickets' too: only once.
        for part in parts:
            part.category = []
        counts = session.execute(select(base.c.category_code, func.count()).group_by(base.c.category_code))
        parts.append(_Groups(category=[tuple(r) for r in counts]))
    return _merge(parts)


def _merge(parts: list[_Groups]) -> _Groups:
    """Sum several partial groupings key by key."""
    grid_dept: dict[tuple[Any, Any], list[int]] = {}
    ratings: dict[tuple[Any, Any], list[int]] = {}
    singles: list[dict[Any, int]] = [{}, {}, {}]
    for part in parts:
        for grid, dept, *nums in part.grid_dept:
            _accumulate(grid_dept, (grid or None, dept or None), nums)
        for grid, dept, *nums in part.ratings:
            _accumulate(ratings, (grid or None, dept or None), nums)
        for into, rows in zip(singles, (part.category, part.status, part.day), strict=True):
            for key, n, *_ in rows:
                if into is singles[2] and not isinstance(key, date):
                    key = date.fromisoformat(str(key))
                into[key or None] = into.get(key or None, 0) + int(n or 0)
    return _Groups(
        grid_dept=[(*k, *v) for k, v in grid_dept.items()],
        ratings=[(*k, *v) for k, v in ratings.items()],
        category=[(k, n) for k, n in singles[0].items() if n],
        status=[(k, n) for k, n in singles[1].items() if n],
        day=[(k, n) for k, n in singles[2].items() if n],
    )


def _accumulate(into: dict[tuple[Any, Any], list[int]], key: tuple[Any, Any], nums: list[Any]) -> None:
    row = into.setdefault(key, [0] * len(nums))
    for i, v in enumerate(nums):
        row[i] += int(v or 0)


def hot_phrases(texts: list[str], *, top: int = 20) -> list[tuple[str, int]]:
    """The most frequent content words of some ticket texts, with counts; filler (哈哈哈, 谢谢 …) never counts."""
    from nlp.hotissues import content_words

    counter: Counter[str] = Counter()
    for body in texts:
        counter.update(content_words(body))
    return counter.most_common(top)


def compute_statistics(
    session: Session, runtime: Runtime, actor: ActorContext, f: TicketFilter, *, use_rollups: bool = True
) -> Statistics:
    """All figures of the statistics page within the actor's scope and the filter.

    Whole days come from the rollups (backend/db/rollups.py) when they can answer the filter; `use_rollups=False`
    reads every ticket (the benchmark's comparison, and the tests that check both agree).
    """
    base = filtered(actor, f).subquery()
    area_names = _names(session, Area)
    dept_names = _names(session, Department)
    cat_rows = session.execute(select(Category.code, Category.name, Category.parent_code)).all()
    cat_names = {code: name for code, name, _ in cat_rows}
    cat_parent = {code: parent for code, _, parent in cat_rows}
    rolled = rollup_stats.plan(session, runtime, actor, f) if use_rollups else None
    if _is_postgres(session):
        # JIT compilation costs seconds here and saves nothing on a few thousand groups.
        session.execute(text("SET LOCAL jit = off"))
    groups = _grouped(session, runtime, base) if rolled is None else _from_rollups(session, runtime, base, rolled)
    groups.median = _median_hours(session, base)

    grids: dict[str, Assessment] = {}
    depts: dict[str, Assessment] = {}
    totals = Assessment(code="", name="合计")
    rated = {(grid, dept): (n, good) for grid, dept, n, good in groups.ratings}
    for grid, dept, *nums in groups.grid_dept:
        part = _fill(Assessment(code="", name=""), [*nums, *rated.get((grid, dept), (0, 0))])
        for table, code, names, missing in (
            (grids, grid or "", area_names, "未定位"),
            (depts, dept or "", dept_names, "未分类"),
        ):
            row = table.setdefault(code, Assessment(code=code, name=names.get(code, missing)))
            _add(row, part)
        _add(totals, part)

    subs = Counter({code or "": int(nums[0]) for code, *nums in groups.category})
    tops: Counter[str] = Counter()
    for code, n in subs.items():
        tops[cat_parent.get(code) or code] += n
    by_status = {s: int(nums[0]) for s, *nums in groups.status}
    by_day = sorted(
        (day if isinstance(day, date) else date.fromisoformat(str(day)), int(nums[0])) for day, *nums in groups.day
    )

    texts = list(session.scalars(select(base.c.text).order_by(base.c.created_at.desc()).limit(HOT_TEXT_SAMPLE)))

    def ranked(counts: dict[str, int], names: dict[str, str], missing: str) -> list[tuple[str, str, int]]:
        return sorted(
            ((c, names.get(c, missing) if c else missing, n) for c, n in counts.items()), key=lambda r: (-r[2], r[0])
        )

    return Statistics(
        total=totals.total,
        open=totals.open,
        overdue=totals.overdue,
        by_category=ranked(dict(tops), cat_names, "未分类"),
        by_subcategory=ranked(dict(subs), cat_names, "未分类"),
        by_grid=ranked({c: r.total for c, r in grids.items()}, area_names, "未定位"),
        by_department=ranked({c: r.total for c, r in depts.items()}, dept_names, "未分类"),
        by_day=by_day,
        by_status=by_status,
        median_handling_hours=groups.median,
        on_time_rate=totals.on_time_rate,
        satisfaction_rate=totals.satisfaction_rate,
        reopen_rate=totals.reopened / totals.ever_resolved if totals.ever_resolved else None,
        reworks=totals.reworks,
        escalations=totals.escalated,
        grid_table=sorted((r for c, r in grids.items() if c), key=lambda r: (-r.score, r.code)),
        department_table=sorted((r for c, r in depts.items() if c), key=lambda r: (-r.score, r.code)),
        hot_phrases=hot_phrases(texts),
    )


def _add(row: Assessment, part: Assessment) -> None:
    for name in METRICS + ("ratings", "good_ratings"):
        setattr(row, name, getattr(row, name) + getattr(part, name))


def open_by_grid(session: Session, actor: ActorContext) -> dict[str, tuple[int, int, int]]:
    """Open tickets per grid within scope: (open, yellow, red)."""
    base = filtered(actor, TicketFilter(status=OPEN)).subquery()
    q = select(
        base.c.grid_code,
        func.count(),
        func.sum(case((base.c.light == "yellow", 1), else_=0)),
        func.sum(case((base.c.light == "red", 1), else_=0)),
    ).group_by(base.c.grid_code)
    return {code: (int(n), int(y or 0), int(r or 0)) for code, n, y, r in session.execute(q) if code}

"""Statistics rollups: per local day, area, department and status, the sums the statistics page shows.

Kept current by every transaction that adds, changes or deletes a ticket or a rating: a `before_flush` listener
on every Session sums the deltas of each flush (a ticket's old contribution subtracted, its new one added), and
the transaction appends them as delta rows just before it commits — one row per key however many flushes it
made; a savepoint's deltas join its transaction's when it is released and are forgotten when it is rolled back.
It never updates a shared row, so concurrent transactions never wait on each other for the rollup; a
transaction's own changes reach the rollups (and the statistics read from them) when it commits. A periodic
job (`compact`, run by `gridbot worker`) folds the deltas into one row per key; until then a query sums a few
more rows.
Tickets written other than through the ORM (the benchmark's COPY) are counted by `rebuild`.

A rating counts in the row of its ticket's status when it was given; the statistics page sums ratings over
all statuses (a status filter is computed from the tickets directly). The local day is in GRIDBOT_TIMEZONE
as this process reads it (`rollup_timezone`); after changing the time zone run `gridbot rebuild-rollups`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, event, func, insert, inspect, select
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.base import NO_VALUE

from backend.db.models import CategoryRollup, Rating, Ticket, TicketRollup
from backend.db.types import utcnow
from backend.domain.tickets import OPEN_STATUSES

logger = logging.getLogger(__name__)

OPEN = frozenset(s.value for s in OPEN_STATUSES)
DONE = frozenset({"resolved", "verified", "closed"})
GOOD_SCORES = frozenset({"satisfied", "basically_satisfied"})
MEASURES = (
    "n",
    "overdue",
    "resolved",
    "on_time",
    "with_due",
    "reopened",
    "reworks",
    "escalated",
    "ever_resolved",
    "ratings",
    "good_ratings",
)
KEY = ("day", "street_code", "community_code", "grid_code", "department_code", "status")
CATEGORY_KEY = ("day", "street_code", "community_code", "department_code", "category_code")
_FIELDS = (
    "created_at",
    "street_code",
    "community_code",
    "grid_code",
    "department_code",
    "category_code",
    "status",
    "light",
    "resolved_at",
    "due_at",
    "reopen_count",
    "rework_count",
    "escalated_at",
)
_DEFAULTS: dict[str, Any] = {"status": "submitted", "light": "green", "reopen_count": 0, "rework_count": 0}

Values = dict[str, Any]
Deltas = dict[tuple[Any, ...], list[int]]


@cache
def rollup_timezone() -> str:
    """The time zone of the rollup's days: GRIDBOT_TIMEZONE as this process reads it."""
    from backend.settings import get_settings

    return get_settings().timezone


def local_day(moment: datetime, timezone: str | None = None) -> date:
    """The calendar day of a UTC moment in the rollup's (or a given) time zone."""
    return moment.astimezone(ZoneInfo(timezone or rollup_timezone())).date()


def measures(values: Values) -> list[int]:
    """A ticket's contribution to MEASURES (without ratings), from its field values."""
    status, resolved_at, due_at = values["status"], values["resolved_at"], values["due_at"]
    resolved = resolved_at is not None and status in DONE
    with_due = resolved and due_at is not None
    return [
        1,
        int(status in OPEN and values["light"] == "red"),
        int(resolved),
        int(with_due and resolved_at <= due_at),
        int(with_due),
        int((values["reopen_count"] or 0) > 0),
        int(values["rework_count"] or 0),
        int(values["escalated_at"] is not None),
        int(resolved_at is not None),
        0,
        0,
    ]


def _key(values: Values) -> tuple[Any, ...]:
    day = local_day(values["created_at"] or utcnow())
    return (day, *(values[k] or "" for k in KEY[1:]))


def _category_key(values: Values) -> tuple[Any, ...]:
    day = local_day(values["created_at"] or utcnow())
    return (day, *(values[k] or "" for k in CATEGORY_KEY[1:]))


def _current(ticket: Ticket) -> Values:
    out = {name: getattr(ticket, name) for name in _FIELDS}
    for name, default in _DEFAULTS.items():
        if out[name] is None:
            out[name] = default
    return out


class _Pending:
    def __init__(self) -> None:
        self.rows: Deltas = defaultdict(lambda: [0] * len(MEASURES))
        self.categories: dict[tuple[Any, ...], int] = defaultdict(int)

    def ticket(self, values: Values, sign: int) -> None:
        row = self.rows[_key(values)]
        for i, v in enumerate(measures(values)):
            row[i] += sign * v
        self.categories[_category_key(values)] += sign

    def rating(self, values: Values, score: str | None, sign: int) -> None:
        row = self.rows[_key(values)]
        row[MEASURES.index("ratings")] += sign
        row[MEASURES.index("good_ratings")] += sign * int(score in GOOD_SCORES)

    def add(self, other: _Pending) -> None:
        for key, nums in other.rows.items():
            row = self.rows[key]
            for i, v in enumerate(nums):
                row[i] += v
        for key, n in other.categories.items():
            self.categories[key] += n

    def counts_anything(self) -> bool:
        return any(any(nums) for nums in self.rows.values()) or any(self.categories.values())

    def write(self, connection: Connection) -> None:
        rows = [
            {**dict(zip(KEY, key, strict=True)), **dict(zip(MEASURES, nums, strict=True))}
            for key, nums in sorted(self.rows.items(), key=lambda kv: [str(k) for k in kv[0]])
            if any(nums)
        ]
        cats = [
            {**dict(zip(CATEGORY_KEY, key, strict=True)), "n": n}
            for key, n in sorted(self.categories.items(), key=lambda kv: [str(k) for k in kv[0]])
            if n
        ]
        if rows:
            connection.execute(insert(TicketRollup), rows)
        if cats:
            connection.execute(insert(CategoryRollup), cats)


def _ticket_of(session: Session, rating: Rating) -> Ticket | None:
    return rating.ticket if "ticket" in inspect(rating).dict else session.get(Ticket, rating.ticket_id)


def _unwritten(session: Session) -> dict[SessionTransaction, _Pending]:
    """The deltas not written yet, by the transaction (or savepoint) whose flushes made them."""
    kept: dict[SessionTransaction, _Pending] = session.info.setdefault("rollup_deltas", {})
    return kept


@event.listens_for(Session, "before_flush")
def _track(session: Session, _flush_context: object, _instances: object) -> None:
    """Add the rollup deltas of the tickets and ratings this flush inserts, changes or deletes to its transaction's."""
    innermost = session.get_nested_transaction() or session.get_transaction()
    assert innermost is not None  # a flush runs in a transaction
    pending = _unwritten(session).setdefault(innermost, _Pending())
    changed = [
        obj for obj in session.dirty if isinstance(obj, Ticket) and session.is_modified(obj, include_collections=False)
    ]
    gone = [obj for obj in session.deleted if isinstance(obj, Ticket)]
    # A ticket's values before this flush: from the session's record of what it changed, or — for a field set
    # without having been loaded — from the database, which until the flush still holds them.
    stored = {t.id: old for t in changed + gone if (old := _previous(t)) is not None}
    stored |= _stored(session, [t.id for t in changed + gone if t.id is not None and t.id not in stored])
    for obj in session.new:
        if isinstance(obj, Ticket):
            pending.ticket(_current(obj), +1)
    for obj in changed:
        old, new = stored.get(obj.id), _current(obj)
        if old is not None and old != new:
            pending.ticket(old, -1)
            pending.ticket(new, +1)
    for obj in gone:
        if (old := stored.get(obj.id)) is not None:
            pending.ticket(old, -1)
    for obj in session.new:
        if isinstance(obj, Rating) and (ticket := _ticket_of(session, obj)) is not None:
            pending.rating(_current(ticket), obj.score, +1)
    for obj in session.deleted:
        if isinstance(obj, Rating) and (ticket := _ticket_of(session, obj)) is not None:
            pending.rating(_current(ticket), obj.score, -1)


@event.listens_for(Session, "before_commit")
def _write_or_carry(session: Session) -> None:
    """A released savepoint's deltas join its transaction's; a transaction's are written just before it commits."""
    session.flush()  # the last changes' deltas too (the commit's own flush then finds nothing to do)
    ending = session.get_nested_transaction() or session.get_transaction()
    pending = _unwritten(session).pop(ending, None) if ending is not None else None
    if ending is None or pending is None:
        return
    if ending.nested and ending.parent is not None:
        _unwritten(session).setdefault(ending.parent, _Pending()).add(pending)
    elif pending.counts_anything():
        pending.write(session.connection())


@event.listens_for(Session, "after_commit")
def _check_written(session: Session) -> None:
    """Only a savepoint left open while its transaction commits (never `with begin_nested()`) leaves deltas behind."""
    ending = session.get_nested_transaction() or session.get_transaction()
    left = _unwritten(session).get(ending) if ending is not None and not ending.nested else None
    if left is not None and left.counts_anything():
        logger.error("statistics rollup deltas not written by a commit; run `gridbot rebuild-rollups`")


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    """A transaction or savepoint rolled back (or closed unfinished) takes its deltas with it."""
    _unwritten(session).pop(transaction, None)


def _previous(ticket: Ticket) -> Values | None:
    """The tracked fields as of the last flush, when the session knows them all (else None)."""
    state = inspect(ticket)
    committed, loaded = state.committed_state, state.dict
    out: Values = {}
    for name in _FIELDS:
        if name in committed:
            if committed[name] is NO_VALUE:
                return None
            out[name] = committed[name]
        elif name in loaded:
            out[name] = loaded[name]
        else:
            return None
    return out


def _stored(session: Session, ids: list[int]) -> dict[int, Values]:
    if not ids:
        return {}
    columns = [getattr(Ticket, name) for name in _FIELDS]
    rows = session.connection().execute(select(Ticket.id, *columns).where(Ticket.id.in_(ids)))
    return {row[0]: dict(zip(_FIELDS, row[1:], strict=True)) for row in rows}


def compact(session: Session) -> int:
    """Fold the delta rows into one row per key (the caller commits); the number of rows folded.

    One DELETE … RETURNING takes the rows it sums, so a delta committed meanwhile is either folded or left.
    """
    folded = 0
    for model, key in ((TicketRollup, KEY), (CategoryRollup, CATEGORY_KEY)):
        last = session.scalar(select(func.max(model.id)))
        if last is None:
            continue
        names = MEASURES if model is TicketRollup else ("n",)
        columns = [getattr(model, k) for k in (*key, *names)]
        taken = session.execute(delete(model).where(model.id <= last).returning(*columns)).all()
        sums: dict[tuple[Any, ...], list[int]] = {}
        for row in taken:
            total = sums.setdefault(tuple(row[: len(key)]), [0] * len(names))
            for i, value in enumerate(row[len(key) :]):
                total[i] += int(value or 0)
        rows = [dict(zip((*key, *names), (*k, *v), strict=True)) for k, v in sums.items() if any(v)]
        _insert_chunks(session, model, rows)
        folded += len(taken)
    return folded


def rebuild(session: Session, *, timezone: str | None = None) -> int:
    """Recompute both rollups from the tickets and ratings (after a bulk load or a time-zone change)."""
    tz = timezone or rollup_timezone()
    session.execute(delete(TicketRollup))
    session.execute(delete(CategoryRollup))
    day = _sql_day(session, Ticket.created_at, tz)
    t = Ticket
    is_open = t.status.in_(sorted(OPEN))
    resolved = (t.resolved_at.is_not(None)) & t.status.in_(sorted(DONE))
    with_due = resolved & t.due_at.is_not(None)

    def n(cond: Any) -> Any:
        from sqlalchemy import case

        return func.sum(case((cond, 1), else_=0))

    dims = [func.coalesce(getattr(t, k), "") for k in KEY[1:]]
    ratings = (
        select(
            Rating.ticket_id.label("ticket_id"),
            func.count().label("ratings"),
            func.sum(_good(Rating.score)).label("good"),
        )
        .group_by(Rating.ticket_id)
        .subquery()
    )
    q = (
        select(
            day,
            *dims,
            func.count(),
            n(is_open & (t.light == "red")),
            n(resolved),
            n(with_due & (t.resolved_at <= t.due_at)),
            n(with_due),
            n(t.reopen_count > 0),
            func.coalesce(func.sum(t.rework_count), 0),
            n(t.escalated_at.is_not(None)),
            n(t.resolved_at.is_not(None)),
            func.coalesce(func.sum(ratings.c.ratings), 0),
            func.coalesce(func.sum(ratings.c.good), 0),
        )
        .outerjoin(ratings, ratings.c.ticket_id == t.id)
        .group_by(day, *dims)
    )
    session.execute(insert(TicketRollup).from_select([*KEY, *MEASURES], q))
    cdims = [func.coalesce(getattr(t, k), "") for k in CATEGORY_KEY[1:]]
    cq = select(day, *cdims, func.count()).group_by(day, *cdims)
    session.execute(insert(CategoryRollup).from_select([*CATEGORY_KEY, "n"], cq))
    return int(session.scalar(select(func.count(TicketRollup.id))) or 0)


def _good(score: Any) -> Any:
    from sqlalchemy import case

    return case((score.in_(sorted(GOOD_SCORES)), 1), else_=0)


def _sql_day(session: Session, column: Any, tz: str) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(tz, column))
    offset = datetime.now(ZoneInfo(tz)).utcoffset()
    hours = int(offset.total_seconds() // 3600) if offset else 0
    return func.date(column, f"{hours:+d} hours")


def _insert_chunks(session: Session, model: type[Any], rows: list[dict[str, Any]], size: int = 5000) -> None:
    for start in range(0, len(rows), size):
        session.execute(insert(model), rows[start : start + size])

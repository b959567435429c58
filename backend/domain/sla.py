"""SLA clocks (时限) on a working-hours calendar, and the green/yellow/red warning light.

All inputs are timezone-aware datetimes in any zone; the calendar reasons in its own local zone
and returns UTC. Arithmetic jumps by working periods, whole days and whole weeks (counting the
workdays between two dates with bisect over the sorted holiday lists), never minute by minute,
because the SLA job evaluates every open ticket each minute: about 15 µs a ticket.

A day is a working day when it is an extra workday (调休上班), or a regular workday that is
not a holiday; a holiday wins if a date is listed as both.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

logger = logging.getLogger(__name__)

_DAY = timedelta(days=1)
_BOUNDS_CACHE_DAYS = 4096  # distinct dates whose UTC period bounds we keep (about 11 years)


class Light(StrEnum):
    """The warning light of a ticket's time limit."""

    green = "green"
    yellow = "yellow"
    red = "red"


def _as_time(value: time | str) -> time:
    return value if isinstance(value, time) else time.fromisoformat(value)


def _period(item: Any) -> tuple[time, time]:
    """Accept (start, end) tuples or objects with .start/.end, as times or 'HH:MM' strings."""
    if isinstance(item, tuple | list):
        start, end = item
    else:
        start, end = item.start, item.end
    return _as_time(start), _as_time(end)


class WorkingCalendar:
    """Working periods, workdays and holidays of one timezone; counts and adds working hours."""

    def __init__(
        self,
        *,
        timezone: str,
        periods: Iterable[tuple[time, time]],
        workdays: Iterable[int],
        holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
        urgent_runs_around_the_clock: bool = True,
        warning_threshold: float = 0.75,
    ) -> None:
        self.tz = ZoneInfo(timezone)
        self.periods: tuple[tuple[time, time], ...] = tuple(sorted(periods))
        if not self.periods:
            raise ValueError("calendar needs at least one working period")
        for (start, end), following in zip(self.periods, (*self.periods[1:], None), strict=True):
            if start >= end:
                raise ValueError(f"working period {start}–{end} ends before it starts")
            if following is not None and following[0] < end:
                raise ValueError(f"working periods {start}–{end} and {following[0]}–{following[1]} overlap")
        self.workdays = frozenset(workdays)
        if not self.workdays <= set(range(7)):
            raise ValueError(f"workdays must be 0 (Mon) … 6 (Sun), got {sorted(self.workdays)}")
        self.holidays = frozenset(holidays)
        self.extra_workdays = frozenset(extra_workdays) - self.holidays
        self.urgent_runs_around_the_clock = urgent_runs_around_the_clock
        self.warning_threshold = warning_threshold
        if not self.workdays and not self.extra_workdays:
            raise ValueError("calendar has no working days")
        # Exceptions to the weekly pattern, sorted for bisect: days lost and days gained.
        self._lost = sorted(d for d in self.holidays if d.weekday() in self.workdays)
        self._gained = sorted(d for d in self.extra_workdays if d.weekday() not in self.workdays)
        self._day_seconds = sum(_seconds(s, e) for s, e in self.periods)
        self._day = timedelta(seconds=self._day_seconds)
        self._bounds_cache: dict[date, tuple[tuple[datetime, datetime], ...]] = {}

    @classmethod
    def from_config(cls, cfg: Any) -> WorkingCalendar:
        """Build from any object with timezone, working_hours, workdays, holidays, … attributes."""
        return cls(
            timezone=cfg.timezone,
            periods=[_period(p) for p in cfg.working_hours],
            workdays=cfg.workdays,
            holidays=cfg.holidays,
            extra_workdays=cfg.extra_workdays,
            urgent_runs_around_the_clock=cfg.urgent_runs_around_the_clock,
            warning_threshold=getattr(cfg, "warning_threshold", 0.75),
        )

    @property
    def hours_per_day(self) -> float:
        """Working hours in one full working day."""
        return self._day_seconds / 3600

    def is_workday(self, day: date) -> bool:
        """True when work happens on this local date."""
        if day in self.holidays:
            return False
        return day in self.extra_workdays or day.weekday() in self.workdays

    def _local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueError(f"naive datetime {moment!r}: pass a timezone-aware datetime")
        return moment.astimezone(self.tz)

    def _bounds(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working periods of a local date as UTC intervals (UTC so DST cannot bend them)."""
        cached = self._bounds_cache.get(day)
        if cached is None:
            if len(self._bounds_cache) >= _BOUNDS_CACHE_DAYS:
                self._bounds_cache.clear()
            cached = tuple(
                (
                    datetime.combine(day, s, self.tz).astimezone(UTC),
                    datetime.combine(day, e, self.tz).astimezone(UTC),
                )
                for s, e in self.periods
            )
            self._bounds_cache[day] = cached
        return cached

    def _workdays_in(self, first: date, last: date) -> int:
        """Number of working days in [first, last), both local dates."""
        if last <= first:
            return 0
        total_days = (last - first).days
        weeks, rest = divmod(total_days, 7)
        count = weeks * len(self.workdays)
        count += sum(1 for i in range(rest) if (first + timedelta(days=weeks * 7 + i)).weekday() in self.workdays)
        count -= bisect_left(self._lost, last) - bisect_left(self._lost, first)
        count += bisect_left(self._gained, last) - bisect_left(self._gained, first)
        return count

    def _seconds_in_day(self, day: date, start: datetime, end: datetime) -> float:
        """Working seconds of one local date that fall inside [start, end) (UTC-aware)."""
        if not self.is_workday(day):
            return 0.0
        total = 0.0
        for ps, pe in self._bounds(day):
            lo, hi = max(ps, start), min(pe, end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        return total

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        """Working hours from a to b (0 when b is not after a)."""
        first, last = self._local(a).date(), self._local(b).date()
        if b <= a:
            return 0.0
        start, end = a.astimezone(UTC), b.astimezone(UTC)
        if first == last:
            return self._seconds_in_day(first, start, end) / 3600
        seconds = self._seconds_in_day(first, start, end) + self._seconds_in_day(last, start, end)
        seconds += self._workdays_in(first + _DAY, last) * self._day_seconds
        return seconds / 3600

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment (UTC) when `hours` working hours have passed after start."""
        if hours < 0:
            raise ValueError(f"hours must not be negative, got {hours}")
        day = self._local(start).date()
        moment = start.astimezone(UTC)
        if hours == 0:
            return moment
        due, remaining = self._consume(day, moment, timedelta(hours=hours))
        while due is None:
            day += _DAY
            # Jump a whole week, then whole days, while the rest of the limit reaches past them;
            # strict > keeps a limit that ends exactly at a day's close on that day.
            week = self._day * self._workdays_in(day, day + 7 * _DAY)
            if remaining > week:
                remaining -= week
                day += 6 * _DAY
            elif self.is_workday(day):
                if remaining > self._day:
                    remaining -= self._day
                else:
                    due, remaining = self._consume(day, None, remaining)
        return due

    def _consume(self, day: date, moment: datetime | None, remaining: timedelta) -> tuple[datetime | None, timedelta]:
        """Spend working time of one day from `moment` (None: from its start): (due or None, rest)."""
        if not self.is_workday(day):
            return None, remaining
        for ps, pe in self._bounds(day):
            begin = ps if moment is None else max(moment, ps)
            if pe <= begin:
                continue
            if remaining <= pe - begin:
                return begin + remaining, timedelta(0)
            remaining -= pe - begin
        return None, remaining

    def due_at(self, created: datetime, hours: float, *, urgent: bool) -> datetime:
        """The due time (UTC) of a limit of `hours`, wall-clock for urgent when configured so."""
        if urgent and self.urgent_runs_around_the_clock:
            return created.astimezone(UTC) + timedelta(hours=hours)
        return self.add_working_hours(created, hours)

    def elapsed_hours(self, a: datetime, b: datetime, *, urgent: bool) -> float:
        """Hours on the ticket's clock from a to b: wall-clock for around-the-clock urgent tickets."""
        if urgent and self.urgent_runs_around_the_clock:
            return max(0.0, (b - a).total_seconds() / 3600)
        return self.working_hours_between(a, b)

    def light(
        self,
        created: datetime,
        due: datetime,
        now: datetime,
        *,
        urgent: bool,
        threshold: float | None = None,
    ) -> Light:
        """Red when now ≥ due; yellow once `threshold` (default: the calendar's) of the time is used."""
        if threshold is None:
            threshold = self.warning_threshold
        if now >= due:
            return Light.red
        allowed = self.elapsed_hours(created, due, urgent=urgent)
        if allowed <= 0:
            return Light.green
        used = self.elapsed_hours(created, now, urgent=urgent)
        return Light.yellow if used / allowed >= threshold else Light.green


def _seconds(start: time, end: time) -> float:
    return (datetime.combine(date.min, end) - datetime.combine(date.min, start)).total_seconds()

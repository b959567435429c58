"""Working-hours SLA clocks on the real calendar in config/calendar.yaml (Asia/Shanghai)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.domain.sla import Light, WorkingCalendar

CALENDAR_YAML = Path(__file__).resolve().parents[3] / "config" / "calendar.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def calendar_config() -> SimpleNamespace:
    """config/calendar.yaml as an object with the attributes the loader's CalendarConfig has."""
    raw = yaml.safe_load(CALENDAR_YAML.read_text(encoding="utf-8"))
    return SimpleNamespace(
        timezone=raw["timezone"],
        working_hours=[
            SimpleNamespace(start=time.fromisoformat(p["start"]), end=time.fromisoformat(p["end"]))
            for p in raw["working_hours"]
        ],
        workdays={_WEEKDAYS[d] for d in raw["workdays"]},
        holidays=set(raw["holidays"]),
        extra_workdays=set(raw["extra_workdays"]),
        urgent_runs_around_the_clock=raw["urgent_runs_around_the_clock"],
        warning_threshold=raw["warning_threshold"],
    )


def real_calendar() -> WorkingCalendar:
    """The demo city's calendar: 08:30–12:00 and 13:30–17:30 on workdays, Chinese holidays."""
    return WorkingCalendar.from_config(calendar_config())


def local(text: str) -> datetime:
    """A Beijing-time moment given as 'YYYY-MM-DD HH:MM', converted to UTC like the database holds it."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


_CAL = real_calendar()


@pytest.fixture
def cal() -> WorkingCalendar:
    return _CAL


def test_config_yields_seven_and_a_half_hour_days(cal: WorkingCalendar) -> None:
    assert cal.hours_per_day == 7.5
    assert cal.warning_threshold == 0.75


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        pytest.param("2026-11-23 09:00", 2, "2026-11-23 11:00", id="inside-one-morning"),
        pytest.param("2026-11-23 11:00", 2, "2026-11-23 14:30", id="across-lunch"),
        pytest.param("2026-11-23 11:00", 1, "2026-11-23 12:00", id="ends-exactly-at-noon"),
        pytest.param("2026-11-23 16:30", 2, "2026-11-24 09:30", id="across-the-night"),
        pytest.param("2026-11-23 08:30", 7.5, "2026-11-23 17:30", id="one-full-day"),
        pytest.param("2026-11-23 08:30", 15, "2026-11-24 17:30", id="two-full-days"),
        pytest.param("2026-11-23 10:00", 40, "2026-11-30 14:00", id="a-working-week-and-more"),
        pytest.param("2026-11-27 16:00", 3, "2026-11-30 10:00", id="across-the-weekend"),
        pytest.param("2026-11-28 22:00", 1, "2026-11-30 09:30", id="start-on-saturday-night"),
        pytest.param("2026-11-24 07:00", 1, "2026-11-24 09:30", id="start-before-work"),
        pytest.param("2026-11-24 12:30", 1, "2026-11-24 14:30", id="start-at-lunch"),
        pytest.param("2026-11-24 19:00", 0.5, "2026-11-25 09:00", id="start-in-the-evening"),
        pytest.param("2026-09-30 16:00", 8, "2026-10-08 16:30", id="across-national-day"),
        pytest.param("2026-10-09 16:30", 4, "2026-10-10 11:30", id="into-the-make-up-saturday"),
        pytest.param("2026-10-01 09:00", 1, "2026-10-08 09:30", id="start-on-a-holiday"),
        pytest.param("2026-09-24 17:00", 1, "2026-09-27 09:00", id="mid-autumn-friday-then-make-up-sunday"),
    ],
)
def test_add_working_hours(cal: WorkingCalendar, start: str, hours: float, expected: str) -> None:
    due = cal.add_working_hours(local(start), hours)
    assert due == local(expected)
    assert due.tzinfo is UTC


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("2026-11-23 09:00", "2026-11-23 11:00", 2),
        ("2026-11-23 11:00", "2026-11-23 14:30", 2),
        ("2026-11-23 12:10", "2026-11-23 13:20", 0),
        ("2026-11-27 16:00", "2026-11-30 10:00", 3),
        ("2026-11-28 00:00", "2026-11-29 23:59", 0),
        ("2026-09-30 16:00", "2026-10-08 16:30", 8),
        ("2026-10-01 00:00", "2026-10-07 23:00", 0),
        ("2026-10-09 08:30", "2026-10-12 08:30", 15),
        ("2026-11-23 10:00", "2026-11-23 09:00", 0),
    ],
)
def test_working_hours_between(cal: WorkingCalendar, a: str, b: str, expected: float) -> None:
    assert cal.working_hours_between(local(a), local(b)) == pytest.approx(expected)


def test_working_hours_of_a_whole_year_skip_holidays_and_count_make_up_days(cal: WorkingCalendar) -> None:
    # 2026-12-31 (a Thursday) + the 260 weekdays of 2027-01-01..12-30, minus the 6 weekday holidays
    # of 2027 in the file (01-01, 02-05, 02-08..11), plus the make-up Saturday 2027-02-20;
    # 2027-12-31 counts nothing before 08:30.
    hours = cal.working_hours_between(local("2026-12-31 08:30"), local("2027-12-31 08:30"))
    assert hours == pytest.approx((1 + 260 - 6 + 1) * 7.5)


_moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 1), timezones=st.just(SHANGHAI))


@settings(max_examples=200, deadline=None, database=None)
@given(start=_moments, minutes=st.integers(min_value=1, max_value=120 * 60))
def test_adding_then_counting_working_hours_round_trips(start: datetime, minutes: int) -> None:
    cal = _CAL
    hours = minutes / 60
    due = cal.add_working_hours(start, hours)
    assert cal.working_hours_between(start, due) == pytest.approx(hours, abs=1e-6)
    assert cal.working_hours_between(start, due - timedelta(minutes=1)) < hours


@settings(max_examples=200, deadline=None, database=None)
@given(a=_moments, b=_moments, c=_moments)
def test_working_hours_between_adds_up_over_consecutive_spans(a: datetime, b: datetime, c: datetime) -> None:
    cal = _CAL
    a, b, c = sorted((a, b, c))
    total = cal.working_hours_between(a, c)
    assert cal.working_hours_between(a, b) + cal.working_hours_between(b, c) == pytest.approx(total, abs=1e-6)


def test_urgent_due_runs_around_the_clock(cal: WorkingCalendar) -> None:
    created = local("2026-11-27 22:00")  # a Friday night
    assert cal.due_at(created, 2, urgent=True) == local("2026-11-28 00:00")
    assert cal.due_at(created, 2, urgent=False) == local("2026-11-30 10:30")


def test_urgent_due_uses_working_hours_when_configured_so() -> None:
    cfg = calendar_config()
    cfg.urgent_runs_around_the_clock = False
    cal = WorkingCalendar.from_config(cfg)
    assert cal.due_at(local("2026-11-27 22:00"), 2, urgent=True) == local("2026-11-30 10:30")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-23 09:00", Light.green),
        ("2026-11-23 16:29", Light.green),  # 5h59 of 8h used
        ("2026-11-23 16:30", Light.yellow),  # 6h = 75 %
        ("2026-11-23 23:00", Light.yellow),  # the night adds nothing
        ("2026-11-24 09:29", Light.yellow),
        ("2026-11-24 09:30", Light.red),  # due
        ("2026-11-30 09:00", Light.red),
    ],
)
def test_light_of_an_eight_hour_ticket(cal: WorkingCalendar, now: str, expected: Light) -> None:
    created = local("2026-11-23 09:00")
    due = cal.due_at(created, 8, urgent=False)
    assert due == local("2026-11-24 09:30")
    assert cal.light(created, due, local(now), urgent=False) is expected


def test_light_threshold_is_configurable(cal: WorkingCalendar) -> None:
    created = local("2026-11-23 09:00")
    due = cal.due_at(created, 8, urgent=False)
    now = local("2026-11-23 13:30")  # 3h of 8h used
    assert cal.light(created, due, now, urgent=False, threshold=0.75) is Light.green
    assert cal.light(created, due, now, urgent=False, threshold=0.3) is Light.yellow


def test_light_defaults_to_the_calendars_warning_threshold() -> None:
    cfg = calendar_config()
    cfg.warning_threshold = 0.5
    cal = WorkingCalendar.from_config(cfg)
    created = local("2026-11-23 09:00")
    due = cal.due_at(created, 8, urgent=False)
    assert cal.light(created, due, local("2026-11-23 14:29"), urgent=False) is Light.green  # 3h59 of 8
    assert cal.light(created, due, local("2026-11-23 14:30"), urgent=False) is Light.yellow  # 4h: half


def test_light_of_an_urgent_ticket_counts_the_night(cal: WorkingCalendar) -> None:
    created = local("2026-11-27 22:00")
    due = cal.due_at(created, 4, urgent=True)
    assert cal.light(created, due, local("2026-11-28 00:59"), urgent=True) is Light.green
    assert cal.light(created, due, local("2026-11-28 01:00"), urgent=True) is Light.yellow
    assert cal.light(created, due, local("2026-11-28 02:00"), urgent=True) is Light.red


def test_non_utc_input_gives_the_same_instant(cal: WorkingCalendar) -> None:
    start_local = datetime(2026, 11, 23, 11, 0, tzinfo=SHANGHAI)
    assert cal.add_working_hours(start_local, 2) == cal.add_working_hours(start_local.astimezone(UTC), 2)


def test_naive_datetimes_are_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        cal.add_working_hours(datetime(2026, 11, 23, 9, 0), 1)


@pytest.mark.parametrize(
    "periods",
    [
        [(time(9), time(12)), (time(11), time(14))],
        [(time(12), time(9))],
        [],
    ],
    ids=["overlapping", "backwards", "none"],
)
def test_bad_working_periods_are_refused(periods: list[tuple[time, time]]) -> None:
    with pytest.raises(ValueError):
        WorkingCalendar(timezone="Asia/Shanghai", periods=periods, workdays={0, 1, 2, 3, 4})


def test_extra_workday_on_a_weekend_and_holiday_on_a_weekday() -> None:
    cal = WorkingCalendar(
        timezone="Asia/Shanghai",
        periods=[(time(9), time(17))],
        workdays={0, 1, 2, 3, 4},
        holidays={date(2026, 11, 23)},
        extra_workdays={date(2026, 11, 22)},
    )
    assert cal.is_workday(date(2026, 11, 22))
    assert not cal.is_workday(date(2026, 11, 23))
    assert cal.working_hours_between(local("2026-11-21 00:00"), local("2026-11-25 00:00")) == 16

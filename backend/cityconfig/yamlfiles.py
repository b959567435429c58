"""Departments, taxonomy, responsibility list (权责清单) and calendar from their YAML files."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backend.cityconfig.errors import ConfigError, describe_validation_error
from backend.cityconfig.schemas import TIERS, CalendarConfig, Category, Department, Subcategory, Tier

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class _DepartmentIn(_Strict):
    code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    short: str = Field(min_length=1)
    scope: str = ""


class _SubcategoryIn(_Strict):
    code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    description: str = ""


class _CategoryIn(_Strict):
    code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    subcategories: list[dict[str, Any]] = Field(min_length=1)


class _HoursIn(_Strict):
    normal: float
    urgent: float


class _ResponsibilityIn(_Strict):
    department: str
    tier: str
    hours: _HoursIn
    self_close: bool = False


class _PeriodIn(_Strict):
    start: str
    end: str


class _CalendarIn(_Strict):
    timezone: str
    working_hours: list[_PeriodIn] = Field(min_length=1)
    workdays: list[str] = Field(min_length=1)
    urgent_runs_around_the_clock: bool = True
    warning_threshold: float = 0.75
    holidays: list[date] = Field(default_factory=list)
    extra_workdays: list[date] = Field(default_factory=list)


class _DuplicateKeyError(yaml.constructor.ConstructorError):  # type: ignore[misc]  # untyped PyYAML
    def __init__(self, key: Any, mark: yaml.Mark) -> None:
        super().__init__(None, None, f"duplicate key {key!r}", mark)
        self.key = key


class _UniqueKeyLoader(yaml.SafeLoader):  # type: ignore[misc]  # untyped PyYAML
    """A safe loader that refuses duplicate mapping keys instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKeyError(key, key_node.start_mark)
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def read_yaml(path: Path, top_key: str | None = None) -> Any:
    """Parse a YAML file; syntax errors and duplicate keys become ConfigError with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read file: {exc.strerror or exc}") from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKeyError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise ConfigError(path, str(exc.key), f"duplicate key (line {line})") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(path, None, f"invalid YAML{where}: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(path, None, f"invalid YAML: {exc}") from exc
    if top_key is None:
        if not isinstance(data, dict):
            raise ConfigError(path, None, "expected a mapping at the top level")
        return data
    if not isinstance(data, dict) or top_key not in data:
        raise ConfigError(path, None, f"expected a top-level key '{top_key}'")
    extra = sorted(str(k) for k in data if k != top_key)
    if extra:
        raise ConfigError(path, None, f"unknown top-level key '{extra[0]}'")
    return data[top_key]


def _parse(model: type[_Strict], raw: Any, path: Path, entry: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(path, entry, f"expected a mapping, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(path, entry, describe_validation_error(exc)) from exc


def _entry_name(raw: Any, index: int) -> str:
    code = raw.get("code") if isinstance(raw, dict) else None
    return str(code) if code else f"#{index + 1}"


def load_departments(path: Path) -> dict[str, Department]:
    """departments.yaml → departments by code."""
    raw = read_yaml(path, "departments")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(path, None, "'departments' must be a non-empty list")
    out: dict[str, Department] = {}
    for i, item in enumerate(raw):
        entry = _entry_name(item, i)
        dep = _parse(_DepartmentIn, item, path, entry)
        if dep.code in out:
            raise ConfigError(path, dep.code, "duplicate department code")
        out[dep.code] = Department(code=dep.code, name=dep.name, short=dep.short, scope=dep.scope)
    return out


def load_taxonomy(
    taxonomy_path: Path,
    responsibilities_path: Path,
    departments: dict[str, Department],
) -> tuple[dict[str, Category], dict[str, Subcategory]]:
    """taxonomy.yaml + responsibilities.yaml → categories and merged subcategories."""
    raw_categories = read_yaml(taxonomy_path, "categories")
    if not isinstance(raw_categories, list) or not raw_categories:
        raise ConfigError(taxonomy_path, None, "'categories' must be a non-empty list")
    raw_resp = read_yaml(responsibilities_path, "responsibilities")
    if not isinstance(raw_resp, dict) or not raw_resp:
        raise ConfigError(responsibilities_path, None, "'responsibilities' must be a non-empty mapping")

    categories: dict[str, Category] = {}
    subs: dict[str, tuple[_SubcategoryIn, str]] = {}
    for i, item in enumerate(raw_categories):
        cat = _parse(_CategoryIn, item, taxonomy_path, _entry_name(item, i))
        if cat.code in categories:
            raise ConfigError(taxonomy_path, cat.code, "duplicate category code")
        codes: list[str] = []
        for j, sub_raw in enumerate(cat.subcategories):
            sub = _parse(_SubcategoryIn, sub_raw, taxonomy_path, _entry_name(sub_raw, j))
            if sub.code in subs or sub.code in categories or sub.code == cat.code:
                raise ConfigError(taxonomy_path, sub.code, "duplicate subcategory code")
            subs[sub.code] = (sub, cat.code)
            codes.append(sub.code)
        categories[cat.code] = Category(code=cat.code, name=cat.name, subcategories=tuple(codes))
    clash = sorted(set(categories) & set(subs))
    if clash:
        raise ConfigError(taxonomy_path, clash[0], "code used by both a category and a subcategory")

    subcategories: dict[str, Subcategory] = {}
    for code, raw in raw_resp.items():
        code = str(code)
        if code not in subs:
            raise ConfigError(responsibilities_path, code, "unknown subcategory (not in taxonomy.yaml)")
        resp = _parse(_ResponsibilityIn, raw, responsibilities_path, code)
        if resp.department not in departments:
            raise ConfigError(responsibilities_path, code, f"unknown department '{resp.department}'")
        if resp.tier not in TIERS:
            raise ConfigError(
                responsibilities_path, code, f"bad tier '{resp.tier}' (expected one of {', '.join(TIERS)})"
            )
        normal, urgent = resp.hours.normal, resp.hours.urgent
        if normal <= 0 or urgent <= 0:
            raise ConfigError(responsibilities_path, code, "hours must be positive")
        if urgent > normal:
            raise ConfigError(responsibilities_path, code, f"urgent hours {urgent:g} exceed normal hours {normal:g}")
        sub, category = subs[code]
        tier: Tier = resp.tier  # checked against TIERS above
        subcategories[code] = Subcategory(
            code=code,
            name=sub.name,
            description=sub.description,
            category=category,
            department=resp.department,
            tier=tier,
            hours_normal=float(normal),
            hours_urgent=float(urgent),
            self_close=resp.self_close,
        )
    missing = [code for code in subs if code not in subcategories]
    if missing:
        raise ConfigError(
            responsibilities_path, missing[0], "subcategory from taxonomy.yaml has no responsibility entry"
        )
    # Keep taxonomy order, which the classifier and the dashboard show.
    ordered = {code: subcategories[code] for code in subs}
    return categories, ordered


def _parse_time(text: str, path: Path, entry: str) -> time:
    try:
        hour, minute = (int(part) for part in text.split(":"))
        return time(hour, minute)
    except ValueError as exc:
        raise ConfigError(path, entry, f'bad time {text!r} (expected quoted "HH:MM")') from exc


def load_calendar(path: Path) -> CalendarConfig:
    """calendar.yaml → the working-hours calendar."""
    raw = read_yaml(path)
    try:
        cal = _CalendarIn.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(path, None, describe_validation_error(exc)) from exc
    try:
        ZoneInfo(cal.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(path, "timezone", f"unknown time zone '{cal.timezone}'") from exc
    periods: list[tuple[time, time]] = []
    for i, period in enumerate(cal.working_hours):
        entry = f"working_hours #{i + 1}"
        start, end = _parse_time(period.start, path, entry), _parse_time(period.end, path, entry)
        if start >= end:
            raise ConfigError(path, entry, f"period ends ({end}) before it starts ({start})")
        periods.append((start, end))
    periods.sort()
    for (_, end), (start, _) in zip(periods, periods[1:], strict=False):
        if start < end:
            raise ConfigError(path, "working_hours", "working periods overlap")
    workdays: set[int] = set()
    for name in cal.workdays:
        if name.lower() not in _WEEKDAYS:
            raise ConfigError(path, "workdays", f"unknown weekday '{name}' (expected mon … sun)")
        workdays.add(_WEEKDAYS.index(name.lower()))
    both = sorted(set(cal.holidays) & set(cal.extra_workdays))
    if both:
        raise ConfigError(path, str(both[0]), "date is both a holiday and an extra workday")
    if not 0 < cal.warning_threshold < 1:
        raise ConfigError(path, "warning_threshold", "must lie strictly between 0 and 1")
    return CalendarConfig(
        timezone=cal.timezone,
        working_hours=tuple(periods),
        workdays=frozenset(workdays),
        holidays=frozenset(cal.holidays),
        extra_workdays=frozenset(cal.extra_workdays),
        urgent_runs_around_the_clock=cal.urgent_runs_around_the_clock,
        warning_threshold=cal.warning_threshold,
    )

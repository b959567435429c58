"""Staff records from staff.csv.

Columns: code, name, role, scope, phone, wecom_userid, telegram_user_id (may be empty).
Each role has a kind of scope:
- gridworker: a grid, micro-grid or special grid;
- grid_leader: a community (or a grid);
- community_dispatcher: a community;
- street_dispatcher: a street;
- department_handler: a department code;
- supervisor: empty or the district (the whole district), or a street;
- admin: empty or the district.
"""

from __future__ import annotations

import csv
from pathlib import Path

from backend.cityconfig.errors import ConfigError
from backend.cityconfig.schemas import STAFF_ROLES, Area, Department, StaffRecord, StaffRole

STAFF_COLUMNS = ("code", "name", "role", "scope", "phone", "wecom_userid", "telegram_user_id")
# What a role's scope may point at: area levels, "department", or "" (the whole district).
_SCOPE_KINDS: dict[str, tuple[str, ...]] = {
    "gridworker": ("grid", "microgrid", "special"),
    "grid_leader": ("community", "grid"),
    "community_dispatcher": ("community",),
    "street_dispatcher": ("street",),
    "department_handler": ("department",),
    "supervisor": ("", "district", "street"),
    "admin": ("", "district"),
}


def load_staff(path: Path) -> dict[str, StaffRecord]:
    """staff.csv → staff records by code (scopes are checked later, against areas and departments)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = tuple(reader.fieldnames or ())
            missing = [c for c in STAFF_COLUMNS if c not in header]
            if missing:
                raise ConfigError(path, None, f"missing column '{missing[0]}'")
            unknown = [c for c in header if c not in STAFF_COLUMNS]
            if unknown:
                raise ConfigError(path, None, f"unknown column '{unknown[0]}'")
            rows = list(reader)
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read file: {exc.strerror or exc}") from exc
    staff: dict[str, StaffRecord] = {}
    for line, row in enumerate(rows, start=2):
        code = (row.get("code") or "").strip()
        entry = row_entry(line, code)
        if None in row or any(row.get(c) is None for c in STAFF_COLUMNS):
            raise ConfigError(path, entry, f"wrong number of columns on line {line}")
        if not code:
            raise ConfigError(path, entry, "field 'code': missing staff code")
        if code in staff:
            raise ConfigError(path, entry, f"field 'code': duplicate staff code (first on line {staff[code].line})")
        role = row["role"].strip()
        if role not in STAFF_ROLES:
            raise ConfigError(
                path, entry, f"field 'role': unknown staff role '{role}' (expected one of {', '.join(STAFF_ROLES)})"
            )
        name = row["name"].strip()
        if not name:
            raise ConfigError(path, entry, "field 'name': missing name")
        tg_text = row["telegram_user_id"].strip()
        try:
            telegram = int(tg_text) if tg_text else None
        except ValueError as exc:
            raise ConfigError(path, entry, f"field 'telegram_user_id': {tg_text!r} is not an integer") from exc
        typed_role: StaffRole = role  # type: ignore[assignment]  # checked against STAFF_ROLES
        staff[code] = StaffRecord(
            code=code,
            name=name,
            role=typed_role,
            scope=row["scope"].strip(),
            phone=row["phone"].strip(),
            wecom_userid=row["wecom_userid"].strip(),
            telegram_user_id=telegram,
            line=line,
        )
    _check_unique(path, staff, "wecom_userid")
    _check_unique(path, staff, "telegram_user_id")
    return staff


def row_entry(line: int, code: str) -> str:
    """How an error names a staff.csv row: its line (the header is line 1) and its code."""
    if not line:
        return code
    return f"line {line}, {code}" if code else f"line {line}"


def _check_unique(path: Path, staff: dict[str, StaffRecord], attr: str) -> None:
    seen: dict[object, str] = {}
    for record in staff.values():
        value = getattr(record, attr)
        if value in (None, ""):
            continue
        if value in seen:
            raise ConfigError(
                path, row_entry(record.line, record.code), f"field '{attr}': {value!r} already used by '{seen[value]}'"
            )
        seen[value] = record.code


def check_staff_scopes(
    path: Path, staff: dict[str, StaffRecord], areas: dict[str, Area], departments: dict[str, Department]
) -> None:
    """Every scope names a known area or department of the kind the role needs."""
    for record in staff.values():
        allowed = _SCOPE_KINDS[record.role]
        if not record.scope:
            kind = ""
        elif record.scope in departments:
            kind = "department"
        elif record.scope in areas:
            kind = areas[record.scope].level
        else:
            raise ConfigError(
                path,
                row_entry(record.line, record.code),
                f"field 'scope': unknown scope '{record.scope}' (not an area or department)",
            )
        if kind not in allowed:
            shown = " or ".join(k or "empty" for k in allowed)
            raise ConfigError(
                path,
                row_entry(record.line, record.code),
                f"field 'scope': role {record.role} needs a scope of {shown}, got '{record.scope}' ({kind or 'empty'})",
            )


def check_feature_staff(city_path: Path, areas: dict[str, Area], staff: dict[str, StaffRecord]) -> None:
    """A feature's staff must be scoped to that feature in staff.csv (district-wide staff to the district)."""
    for area in sorted(areas.values(), key=lambda a: a.code):
        for code in area.staff:
            record = staff[code]
            if record.scope == area.code or (area.level == "district" and not record.scope):
                continue
            raise ConfigError(
                city_path,
                area.code,
                f"staff '{code}' is scoped to '{record.scope or 'the whole district'}' in staff.csv",
            )

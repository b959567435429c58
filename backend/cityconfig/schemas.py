"""The validated, read-only city configuration: departments, taxonomy, calendar, areas, staff."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from typing import Literal

from shapely.geometry import Polygon

Tier = Literal["grid", "community", "street", "department"]
Level = Literal["district", "street", "community", "grid", "microgrid", "special"]
AliasKind = Literal["estate", "compound", "road", "landmark", "other"]
SpecialKind = Literal["school", "hospital", "market", "station", "industrial_park"]
StaffRole = Literal[
    "gridworker",
    "grid_leader",
    "community_dispatcher",
    "street_dispatcher",
    "department_handler",
    "supervisor",
    "admin",
]

TIERS: tuple[str, ...] = ("grid", "community", "street", "department")
LEVELS: tuple[str, ...] = ("district", "street", "community", "grid", "microgrid", "special")
STAFF_ROLES: tuple[str, ...] = (
    "gridworker",
    "grid_leader",
    "community_dispatcher",
    "street_dispatcher",
    "department_handler",
    "supervisor",
    "admin",
)
# The levels a parent may have, per child level.
PARENT_LEVELS: dict[str, tuple[str, ...]] = {
    "district": (),
    "street": ("district",),
    "community": ("street",),
    "grid": ("community",),
    "microgrid": ("grid",),
    "special": ("community", "street"),
}


@dataclass(frozen=True, slots=True)
class Department:
    """A functional department (职能部门)."""

    code: str
    name: str
    short: str
    scope: str


@dataclass(frozen=True, slots=True)
class Category:
    """A top-level category and the codes of its subcategories."""

    code: str
    name: str
    subcategories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Subcategory:
    """A subcategory merged with its responsibility-list (权责清单) entry."""

    code: str
    name: str
    description: str
    category: str
    department: str
    tier: Tier
    hours_normal: float
    hours_urgent: float
    self_close: bool


@dataclass(frozen=True, slots=True)
class CalendarConfig:
    """Working hours, workdays (0 = Monday), holidays and make-up workdays for SLA clocks."""

    timezone: str
    working_hours: tuple[tuple[time, time], ...]
    workdays: frozenset[int]
    holidays: frozenset[date]
    extra_workdays: frozenset[date]
    urgent_runs_around_the_clock: bool
    warning_threshold: float


@dataclass(frozen=True, slots=True)
class Alias:
    """A name residents use for a place: 小区 (estate), 楼院 (compound), road, landmark."""

    name: str
    kind: AliasKind


@dataclass(frozen=True, slots=True)
class AddressRange:
    """Door numbers start..end (inclusive) of a road that lie in an area."""

    road: str
    start: int
    end: int

    def __contains__(self, number: object) -> bool:
        return isinstance(number, int) and self.start <= number <= self.end


@dataclass(frozen=True, slots=True)
class BuildingSet:
    """Which building numbers (号楼) of an estate belong to a micro-grid."""

    estate: str
    numbers: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Area:
    """One feature of the city GeoJSON: district, street, community, grid, micro-grid or special grid."""

    code: str
    name: str
    level: Level
    parent: str | None
    geometry: Polygon
    households: int = 0
    aliases: tuple[Alias, ...] = ()
    staff: tuple[str, ...] = ()
    special_kind: SpecialKind | None = None
    address_ranges: tuple[AddressRange, ...] = ()
    buildings: tuple[BuildingSet, ...] = ()


@dataclass(frozen=True, slots=True)
class StaffRecord:
    """A staff member: one role scoped to an area code or a department code ('' = whole district)."""

    code: str
    name: str
    role: StaffRole
    scope: str
    phone: str
    wecom_userid: str
    telegram_user_id: int | None = None
    line: int = field(default=0, compare=False)  # the row of staff.csv, for error messages


@dataclass(frozen=True)
class CityConfig:
    """Everything loaded from config/: validated once at start-up, read-only afterwards."""

    departments: dict[str, Department]
    categories: dict[str, Category]
    subcategories: dict[str, Subcategory]
    calendar: CalendarConfig
    areas: dict[str, Area]
    staff: dict[str, StaffRecord]
    _children: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        children: dict[str, list[str]] = {}
        for area in self.areas.values():
            if area.parent is not None:
                children.setdefault(area.parent, []).append(area.code)
        object.__setattr__(self, "_children", {k: tuple(sorted(v)) for k, v in children.items()})

    def ancestors(self, code: str) -> list[str]:
        """The codes above an area, nearest first (parent, grandparent, …, district)."""
        chain: list[str] = []
        parent = self.areas[code].parent
        while parent is not None:
            chain.append(parent)
            parent = self.areas[parent].parent
        return chain

    def children(self, code: str) -> list[str]:
        """The codes of the areas whose parent is this area, sorted."""
        if code not in self.areas:
            raise KeyError(code)
        return list(self._children.get(code, ()))

    def grid_of(self, code: str) -> str | None:
        """The grid responsible for an area: a micro-grid's parent grid, a grid or special grid itself."""
        area = self.areas.get(code)
        if area is None:
            return None
        if area.level == "microgrid":
            return area.parent
        return area.code if area.level in ("grid", "special") else None

    def ancestor_at(self, code: str, level: str) -> str | None:
        """The area itself or its ancestor at the given level, or None."""
        for candidate in (code, *self.ancestors(code)):
            if self.areas[candidate].level == level:
                return candidate
        return None

    def staff_for(self, code: str, role: str) -> list[StaffRecord]:
        """Staff with this role scoped to this area or department code, sorted by code."""
        return sorted((s for s in self.staff.values() if s.scope == code and s.role == role), key=lambda s: s.code)

"""Staff to pick from (改派): search by code or name, filter by area, department and on duty, within scope.

Who may be given a ticket follows the scope rules of backend.services.access: a dispatcher's pick lies in
their own area (their area or an area under it), or is a handler of the ticket's own department; admins,
supervisors and the system see the whole district and pick anyone. There is no duty roster: "on duty"
means an active staff record.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.cityconfig import CityConfig
from backend.db.models import Person, Staff, Ticket
from backend.domain.errors import PermissionDenied
from backend.domain.roles import Role
from backend.services.actors import ActorContext

WHOLE_DISTRICT = frozenset({Role.admin, Role.supervisor, Role.system})  # as access.visible_tickets
MAX_OPTIONS = 60


@dataclass(frozen=True, slots=True)
class StaffOption:
    """One staff member as a picker shows them."""

    code: str
    name: str
    role: str
    scope_code: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class StaffSearch:
    """What the picker asks for: text, area, department, active only."""

    q: str = ""
    area: str | None = None  # staff working in this area: at it, above it (covering it) or under it
    department: str | None = None  # handlers of this department (with an area too: either of them)
    on_duty: bool = True


def _inside(city: CityConfig, code: str | None, area: str | None) -> bool:
    """True when the area `code` is `area` or lies under it."""
    if code is None or area is None or code not in city.areas or area not in city.areas:
        return False
    return city.ancestor_at(code, city.areas[area].level) == area


def in_scope_area(city: CityConfig, actor: ActorContext, area: str) -> bool:
    """True when an area is the actor's own or under it (the whole district for admins and supervisors)."""
    return actor.role in WHOLE_DISTRICT or _inside(city, area, actor.scope_code)


def in_scope(city: CityConfig, actor: ActorContext, staff: StaffOption, ticket: Ticket | None) -> bool:
    """True when the actor may give work (this ticket) to this staff member."""
    if actor.role in WHOLE_DISTRICT:
        return True
    if staff.role == Role.department_handler.value:
        return staff.scope_code in {actor.scope_code, ticket.department_code if ticket else None} - {None}
    return _inside(city, staff.scope_code, actor.scope_code)


def _matches(city: CityConfig, staff: StaffOption, search: StaffSearch) -> bool:
    if search.on_duty and not staff.active:
        return False
    text = search.q.strip().lower()
    if text and text not in staff.code.lower() and text not in staff.name.lower():
        return False
    if not search.area and not search.department:
        return True
    by_department = bool(search.department) and staff.role == Role.department_handler.value
    by_department = by_department and staff.scope_code == search.department
    by_area = bool(search.area) and (
        _inside(city, staff.scope_code, search.area) or _inside(city, search.area, staff.scope_code)
    )
    return by_department or by_area


def _options(session: Session) -> list[StaffOption]:
    rows = session.execute(
        select(Staff.code, Person.name, Staff.role, Staff.scope_code, Staff.active)
        .join(Person, Staff.person_id == Person.id)
        .where(Staff.role != Role.system.value)
        .order_by(Staff.code)
    )
    return [StaffOption(*row) for row in rows]


def find_staff(
    session: Session, city: CityConfig, actor: ActorContext, search: StaffSearch, *, ticket: Ticket | None = None
) -> list[StaffOption]:
    """The staff the actor may pick who match the search (at most MAX_OPTIONS), by code."""
    found = [s for s in _options(session) if in_scope(city, actor, s, ticket) and _matches(city, s, search)]
    return found[:MAX_OPTIONS]


def near_ticket(ticket: Ticket) -> StaffSearch:
    """The picker's first search for a ticket: the staff of its community (or grid) and of its department."""
    return StaffSearch(area=ticket.community_code or ticket.grid_code, department=ticket.department_code)


def check_assignee(city: CityConfig, actor: ActorContext, staff: Staff, ticket: Ticket) -> None:
    """Refuse to give a ticket to someone outside the actor's scope."""
    option = StaffOption(staff.code, "", staff.role, staff.scope_code, staff.active)
    if not in_scope(city, actor, option, ticket):
        raise PermissionDenied("error.assignee_out_of_scope", staff=staff.code)

"""Who is acting: a resident, a staff member with a scoped role, or the system."""

from __future__ import annotations

from dataclasses import dataclass

from backend.domain.roles import Role


@dataclass(frozen=True)
class ActorContext:
    """The acting person with the role and scope their permissions come from."""

    role: Role
    person_id: int | None = None
    staff_id: int | None = None
    scope_code: str | None = None
    name: str = ""


SYSTEM = ActorContext(role=Role.system, name="系统")

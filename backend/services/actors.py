"""Who is acting: a resident, a staff member with a scoped role, or the system."""

from __future__ import annotations

from dataclasses import dataclass

from backend.domain.roles import Role
from backend.domain.tickets import Actor


@dataclass(frozen=True)
class ActorContext:
    """The acting person with the role and scope their permissions come from."""

    role: Role
    person_id: int | None = None
    staff_id: int | None = None
    scope_code: str | None = None
    name: str = ""

    @property
    def domain_actor(self) -> Actor:
        # The state machine compares handler ids with actor ids: staff act by staff id.
        return Actor(id=self.staff_id if self.staff_id is not None else self.person_id, role=self.role)


SYSTEM = ActorContext(role=Role.system, name="系统")

"""Who acts on tickets (Role) and the handling tiers of the 吹哨报到 ladder (Tier)."""

from __future__ import annotations

from enum import StrEnum

from backend.domain.errors import GuardFailed


class Role(StrEnum):
    """A role an actor plays; staff roles are scoped to areas or departments elsewhere."""

    resident = "resident"
    gridworker = "gridworker"
    grid_leader = "grid_leader"
    community_dispatcher = "community_dispatcher"
    street_dispatcher = "street_dispatcher"
    department_handler = "department_handler"
    supervisor = "supervisor"
    admin = "admin"
    system = "system"


class Tier(StrEnum):
    """Handling tier, lowest first: escalation (吹哨) moves a ticket one step up."""

    grid = "grid"
    community = "community"
    street = "street"
    department = "department"

    @property
    def rank(self) -> int:
        """Position on the ladder: grid 0 … department 3."""
        return _LADDER.index(self)

    @property
    def is_top(self) -> bool:
        """True for the department tier, which has nowhere left to escalate to."""
        return self.rank == len(_LADDER) - 1

    def next(self) -> Tier:
        """The tier one step up; raises GuardFailed at the department tier."""
        if self.is_top:
            raise GuardFailed("error.top_tier")
        return _LADDER[self.rank + 1]


_LADDER: tuple[Tier, ...] = (Tier.grid, Tier.community, Tier.street, Tier.department)

"""Who gets a ticket: the responsible staff member for its area, tier and department."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import islice

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, SessionTransaction

from backend.db.fixed_sets import in_fixed
from backend.db.models import Staff, Ticket
from backend.domain.roles import Role, Tier
from backend.domain.tickets import OPEN_STATUSES, TicketStatus
from backend.runtime import Runtime
from backend.services.people import REACHABLE

# Built once: building them took longer than running them.
_CANDIDATES = (
    select(Staff)
    .where(Staff.role == bindparam("role"), Staff.scope_code == bindparam("scope"), Staff.active.is_(True))
    .order_by(Staff.id)
    .options(REACHABLE)
)
_OPEN_LOADS = (
    select(Ticket.assignee_id, func.count())
    .where(Ticket.assignee_id.in_(bindparam("ids", expanding=True)), in_fixed(Ticket.status, OPEN_STATUSES))
    .group_by(Ticket.assignee_id)
)


# Within `candidates_remembered`: a role's staff in a scope, as read by an open transaction (the key holds it).
_REMEMBERED: ContextVar[dict[tuple[SessionTransaction, str, str], Sequence[Staff]] | None] = ContextVar(
    "staff_candidates", default=None
)


@contextmanager
def candidates_remembered() -> Iterator[None]:
    """Within the block, a transaction reads a role's staff in a scope once, not once a ticket: an inbox batch
    dispatches its reports to the same few gridworkers, and chat turns never change who is on staff."""
    token = _REMEMBERED.set({})
    try:
        yield
    finally:
        _REMEMBERED.reset(token)


def _candidates(session: Session, role: Role, scope: str) -> Sequence[Staff]:
    memo = _REMEMBERED.get()
    if memo is None:
        return _read_candidates(session, role, scope)
    session.connection()  # begins the transaction that the key names, if none is open yet
    transaction = session.get_transaction()
    assert transaction is not None
    key = (transaction, role.value, scope)
    if key not in memo:
        memo[key] = _read_candidates(session, role, scope)
    return memo[key]


def _read_candidates(session: Session, role: Role, scope: str) -> Sequence[Staff]:
    return session.scalars(_CANDIDATES, {"role": role.value, "scope": scope}).unique().all()


def _first(session: Session, role: Role, scope: str | None) -> Staff | None:
    """The least-loaded of the role's active staff in scope, so two handlers of one department share the work.

    Open tickets are counted only when there is a choice: most scopes (a grid and its one gridworker) have a
    single candidate, and counting the open tickets of a gridworker whose grid has a burst of reports
    (thousands) is what made each urgent report of the burst slower than the last."""
    if scope is None:
        return None
    candidates = _candidates(session, role, scope)
    if len(candidates) < 2:
        return candidates[0] if candidates else None
    rows = session.execute(_OPEN_LOADS, {"ids": [staff.id for staff in candidates]})
    loads = {assignee: count for assignee, count in rows}
    return min(candidates, key=lambda staff: (loads.get(staff.id, 0), staff.id))


def choose_assignee(
    session: Session, runtime: Runtime, *, grid_code: str | None, tier: Tier, department_code: str | None
) -> Staff | None:
    """The handler for a tier: gridworker → grid leader → community dispatcher at grid tier, and so on."""
    community = runtime.ancestor_at(grid_code, "community")
    street = runtime.ancestor_at(grid_code, "street")
    ladder: list[tuple[Role, str | None]]
    if tier is Tier.grid:
        ladder = [
            (Role.gridworker, grid_code),
            (Role.grid_leader, community),
            (Role.community_dispatcher, community),
            (Role.street_dispatcher, street),
        ]
    elif tier is Tier.community:
        ladder = [
            (Role.community_dispatcher, community),
            (Role.grid_leader, community),
            (Role.street_dispatcher, street),
        ]
    elif tier is Tier.street:
        ladder = [(Role.street_dispatcher, street)]
    else:
        ladder = [(Role.department_handler, department_code), (Role.street_dispatcher, street)]
    for role, scope in ladder:
        staff = _first(session, role, scope)
        if staff is not None:
            return staff
    return None


def choose_verifier(session: Session, runtime: Runtime, ticket: Ticket) -> Staff | None:
    """Someone other than the handler who checks the result on site (巡办分离)."""
    community = runtime.ancestor_at(ticket.grid_code, "community")
    street = runtime.ancestor_at(ticket.grid_code, "street")
    for role, scope in (
        (Role.grid_leader, community),
        (Role.community_dispatcher, community),
        (Role.street_dispatcher, street),
    ):
        for staff in session.scalars(
            select(Staff)
            .where(Staff.role == role.value, Staff.scope_code == scope, Staff.active.is_(True))
            .order_by(Staff.id)
        ):
            if staff.id != ticket.handler_id:
                return staff
    return None


def pending_verifications(session: Session, runtime: Runtime, staff: Staff, *, limit: int) -> list[Ticket]:
    """Resolved tickets waiting for this staff member's check: those `choose_verifier` picks them for."""
    column = {
        Role.grid_leader.value: Ticket.community_code,
        Role.community_dispatcher.value: Ticket.community_code,
        Role.street_dispatcher.value: Ticket.street_code,
    }.get(staff.role)
    if column is None or staff.scope_code is None:
        return []
    resolved = session.scalars(
        select(Ticket)
        .where(Ticket.status == TicketStatus.resolved.value, column == staff.scope_code)
        .order_by(Ticket.resolved_at, Ticket.id)
    )
    mine = (t for t in resolved if (v := choose_verifier(session, runtime, t)) is not None and v.id == staff.id)
    return list(islice(mine, limit))


def dispatchers_for(session: Session, runtime: Runtime, ticket: Ticket) -> list[Staff]:
    """The dispatchers who look after a ticket's area (community first, then street)."""
    community = runtime.ancestor_at(ticket.grid_code, "community")
    street = runtime.ancestor_at(ticket.grid_code, "street")
    rows = session.scalars(
        select(Staff)
        .where(
            ((Staff.role == Role.community_dispatcher.value) & (Staff.scope_code == community))
            | ((Staff.role == Role.street_dispatcher.value) & (Staff.scope_code == street))
        )
        .where(Staff.active.is_(True))
        .order_by(Staff.id)
    ).all()
    return list(rows)


def supervisors_for(session: Session, runtime: Runtime, ticket: Ticket) -> list[Staff]:
    """The supervisors (督办) over a ticket's area: district-wide ones and any scoped to its street or district."""
    scopes = {runtime.ancestor_at(ticket.grid_code, level) for level in ("street", "district")} - {None}
    rows = session.scalars(
        select(Staff)
        .where(Staff.role == Role.supervisor.value, Staff.active.is_(True))
        .where(Staff.scope_code.is_(None) | Staff.scope_code.in_(scopes))
        .order_by(Staff.id)
    ).all()
    return list(rows)

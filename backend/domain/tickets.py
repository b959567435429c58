"""The ticket state machine: ONE table of allowed moves and a pure `transition()`.

`TRANSITIONS[(status, action)]` gives the target status and the roles that may make the move.
`transition()` checks, in this order, and raises on the first failure (changing nothing):

1. the (status, action) pair is in the table             → else InvalidTransition
2. the actor's role is in the rule's roles               → else PermissionDenied
3. a reason is given when the rule needs one             → else GuardFailed
4. the action's guard holds                              → else GuardFailed
   verify, reject_verification: the verifier is not the handler (巡办分离);
   reopen: reopen_count < reopen_limit;
   escalate_to_supervisor: reopen_count >= reopen_limit (past the limit a reopen goes to 督办);
   escalate: not already at the department tier;
   self_close: the category allows 自办自结;
   leaving a hold: status_before_hold is a status the hold can be entered from.

On success it returns one `TransitionResult` carrying the new field values and exactly one
`AuditEvent`. Choices beyond the brief's table, documented here:

- `to=None` means "back to `status_before_hold`" (approve/refuse extension, resume); entering a
  hold (extension_requested, suspended) stores the status left, leaving it clears it.
- `handler_id` in the result: accept and self_close make the actor the handler; return and
  escalate clear it (the ticket goes back to a dispatcher / to a new tier); other moves keep it.
- An escalation moves dispatched → dispatched, so its audit note starts with "grid→community".
- 核查不通过 (reject_verification) sends a resolved ticket back to its handler as 重办 in `in_progress`:
  the handler checked in on site before resolving, so the rework starts at the work itself, not at
  accepting or checking in again; handler and assignee are kept and `rework_count` counts the reworks.
- escalate_to_supervisor (转督办) is the "not fixed" rating past the reopen limit: the ticket goes to
  the street tier (street command centre) under supervision, instead of closing; reopen_count is kept.
- reroute (重新分派) sends a ticket back to dispatched for a new owner (a category correction re-runs
  routing); the handler is cleared, the service picks the new assignee.
- cancel (作废) needs a reason: the reporter (and whoever held the task) is told why.
- Scope checks (is this resident the reporter, is this gridworker on that grid, is the actor the
  assignee) belong to the services, which know the database; this module checks roles only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from backend.domain.errors import GuardFailed, InvalidTransition, PermissionDenied
from backend.domain.roles import Role, Tier

logger = logging.getLogger(__name__)


class TicketStatus(StrEnum):
    """Where a ticket stands in the closed loop."""

    submitted = "submitted"
    dispatched = "dispatched"
    accepted = "accepted"
    in_progress = "in_progress"
    extension_requested = "extension_requested"
    suspended = "suspended"
    returned = "returned"
    resolved = "resolved"
    verified = "verified"
    closed = "closed"
    cancelled = "cancelled"
    merged = "merged"


class Action(StrEnum):
    """A move a person (or the system) makes on a ticket."""

    dispatch = "dispatch"
    accept = "accept"
    start = "start"  # 到场 / on site
    resolve = "resolve"
    verify = "verify"
    reject_verification = "reject_verification"  # 核查不通过 → 重办
    close = "close"
    reopen = "reopen"
    escalate_to_supervisor = "escalate_to_supervisor"  # 转督办: reopen past the limit
    reroute = "reroute"  # 重新分派 after a category correction
    return_ = "return"
    escalate = "escalate"  # 吹哨
    request_extension = "request_extension"
    approve_extension = "approve_extension"
    refuse_extension = "refuse_extension"
    suspend = "suspend"
    resume = "resume"
    cancel = "cancel"
    merge = "merge"
    self_close = "self_close"  # 自办自结


@dataclass(frozen=True, slots=True)
class Rule:
    """One allowed move: target status (None = back to the status before the hold) and roles."""

    to: TicketStatus | None
    roles: frozenset[Role]
    needs_reason: bool = False


_S = TicketStatus
_R = Role

HANDLERS = frozenset(
    {_R.gridworker, _R.grid_leader, _R.department_handler, _R.community_dispatcher, _R.street_dispatcher}
)
DISPATCHERS = frozenset({_R.community_dispatcher, _R.street_dispatcher})
_EXTENSION_DECIDERS = DISPATCHERS | {_R.supervisor, _R.admin}
_HOLDERS = DISPATCHERS | {_R.supervisor, _R.admin}
VERIFIERS = frozenset({_R.gridworker, _R.grid_leader, _R.community_dispatcher, _R.street_dispatcher, _R.supervisor})
_REOPENERS = frozenset({_R.resident, _R.supervisor, _R.admin})


def _rows(
    froms: tuple[TicketStatus, ...],
    action: Action,
    to: TicketStatus | None,
    roles: frozenset[Role],
    *,
    needs_reason: bool = False,
) -> dict[tuple[TicketStatus, Action], Rule]:
    rule = Rule(to, roles, needs_reason)
    return {(status, action): rule for status in froms}


# fmt: off
TRANSITIONS: Mapping[tuple[TicketStatus, Action], Rule] = MappingProxyType({
    **_rows((_S.submitted, _S.returned), Action.dispatch, _S.dispatched,
            DISPATCHERS | {_R.admin, _R.system}),
    **_rows((_S.dispatched,), Action.accept, _S.accepted, HANDLERS),
    **_rows((_S.accepted,), Action.start, _S.in_progress, HANDLERS),
    **_rows((_S.in_progress,), Action.resolve, _S.resolved, HANDLERS),
    **_rows((_S.resolved,), Action.verify, _S.verified, VERIFIERS),
    **_rows((_S.resolved,), Action.reject_verification, _S.in_progress, VERIFIERS, needs_reason=True),
    **_rows((_S.verified,), Action.close, _S.closed,
            DISPATCHERS | {_R.resident, _R.admin, _R.system}),
    **_rows((_S.verified, _S.closed), Action.reopen, _S.dispatched, _REOPENERS, needs_reason=True),
    **_rows((_S.verified, _S.closed), Action.escalate_to_supervisor, _S.dispatched, _REOPENERS,
            needs_reason=True),
    **_rows((_S.dispatched, _S.accepted, _S.in_progress), Action.reroute, _S.dispatched, _HOLDERS,
            needs_reason=True),
    **_rows((_S.dispatched, _S.accepted), Action.return_, _S.returned,
            frozenset({_R.gridworker, _R.grid_leader, _R.department_handler}), needs_reason=True),
    **_rows((_S.dispatched, _S.accepted, _S.in_progress, _S.returned), Action.escalate, _S.dispatched,
            HANDLERS | DISPATCHERS | {_R.supervisor, _R.system}, needs_reason=True),
    **_rows((_S.accepted, _S.in_progress), Action.request_extension, _S.extension_requested,
            HANDLERS, needs_reason=True),
    **_rows((_S.extension_requested,), Action.approve_extension, None, _EXTENSION_DECIDERS),
    **_rows((_S.extension_requested,), Action.refuse_extension, None, _EXTENSION_DECIDERS,
            needs_reason=True),
    **_rows((_S.dispatched, _S.accepted, _S.in_progress), Action.suspend, _S.suspended, _HOLDERS,
            needs_reason=True),
    **_rows((_S.suspended,), Action.resume, None, _HOLDERS),
    **_rows((_S.submitted, _S.dispatched, _S.returned), Action.cancel, _S.cancelled,
            frozenset({_R.resident, _R.admin}), needs_reason=True),
    **_rows((_S.submitted, _S.dispatched, _S.returned), Action.merge, _S.merged,
            DISPATCHERS | {_R.resident, _R.admin, _R.system}),
    **_rows((_S.submitted, _S.dispatched, _S.accepted, _S.in_progress), Action.self_close, _S.closed,
            frozenset({_R.gridworker})),
})
# fmt: on

TERMINAL_STATUSES: frozenset[TicketStatus] = frozenset({_S.closed, _S.cancelled, _S.merged})
OPEN_STATUSES: frozenset[TicketStatus] = frozenset(TicketStatus) - TERMINAL_STATUSES
HOLD_STATUSES: frozenset[TicketStatus] = frozenset({_S.extension_requested, _S.suspended})
# The SLA clock runs (and 吹哨 is possible) exactly where escalation is allowed.
CLOCK_RUNNING_STATUSES: frozenset[TicketStatus] = frozenset(
    status for (status, action) in TRANSITIONS if action is Action.escalate
)


@dataclass(frozen=True, slots=True)
class TicketSnapshot:
    """The fields of a ticket the state machine needs to decide a move."""

    status: TicketStatus
    tier: Tier
    handler_id: int | None = None
    reopen_count: int = 0
    reopen_limit: int = 2
    rework_count: int = 0
    status_before_hold: TicketStatus | None = None
    self_close_allowed: bool = False


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a move: a person's id (None for the system) and the role they act in."""

    id: int | None
    role: Role


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One line of the append-only audit trail: who did what, from → to, with a note."""

    action: Action
    from_status: TicketStatus
    to_status: TicketStatus
    actor_id: int | None
    actor_role: Role
    note: str | None


@dataclass(frozen=True, slots=True)
class TransitionResult:
    """New values for the ticket after a successful move, and its one audit event."""

    from_status: TicketStatus
    to_status: TicketStatus
    action: Action
    tier: Tier
    status_before_hold: TicketStatus | None
    reopen_count: int
    rework_count: int
    handler_id: int | None
    event: AuditEvent


def _has_reason(reason: str | None) -> bool:
    return reason is not None and reason.strip() != ""


def check_guards(ticket: TicketSnapshot, action: Action, rule: Rule, actor_id: int | None) -> None:
    """Raise GuardFailed when an action-specific rule forbids the move right now."""
    verifying = action in (Action.verify, Action.reject_verification)
    if verifying and actor_id is not None and actor_id == ticket.handler_id:
        raise GuardFailed("error.verifier_is_handler")
    if action is Action.reopen and ticket.reopen_count >= ticket.reopen_limit:
        raise GuardFailed("error.reopen_limit", count=ticket.reopen_count, limit=ticket.reopen_limit)
    if action is Action.escalate_to_supervisor and ticket.reopen_count < ticket.reopen_limit:
        raise GuardFailed("error.reopen_limit_not_reached", count=ticket.reopen_count, limit=ticket.reopen_limit)
    if action is Action.escalate and ticket.tier.is_top:
        raise GuardFailed("error.top_tier")
    if action is Action.self_close and not ticket.self_close_allowed:
        raise GuardFailed("error.self_close_not_allowed")
    if rule.to is None and ticket.status_before_hold not in _hold_entries(ticket.status):
        raise GuardFailed("error.no_status_before_hold", status=ticket.status_before_hold)


def _hold_entries(hold: TicketStatus) -> frozenset[TicketStatus]:
    """Statuses from which the given hold status can be entered (where leaving it may return)."""
    return _HOLD_ENTRIES.get(hold, frozenset())


_HOLD_ENTRIES: Mapping[TicketStatus, frozenset[TicketStatus]] = {
    hold: frozenset(status for (status, _), rule in TRANSITIONS.items() if rule.to is hold) for hold in HOLD_STATUSES
}


def transition(ticket: TicketSnapshot, action: Action, actor: Actor, *, reason: str | None = None) -> TransitionResult:
    """Apply one move to a ticket snapshot, or raise a DomainError and change nothing."""
    rule = TRANSITIONS.get((ticket.status, action))
    if rule is None:
        raise InvalidTransition("error.action_not_allowed_from_status", status=ticket.status, action=action)
    if actor.role not in rule.roles:
        raise PermissionDenied("error.role_not_allowed", role=actor.role, action=action)
    if rule.needs_reason and not _has_reason(reason):
        raise GuardFailed("error.reason_required", action=action)
    check_guards(ticket, action, rule, actor.id)

    to_status = rule.to if rule.to is not None else ticket.status_before_hold
    assert to_status is not None  # guaranteed by check_guards
    if to_status in HOLD_STATUSES:
        status_before_hold: TicketStatus | None = ticket.status
    elif ticket.status in HOLD_STATUSES:
        status_before_hold = None
    else:
        status_before_hold = ticket.status_before_hold

    tier = ticket.tier
    note = reason.strip() if reason is not None and reason.strip() else None
    if action is Action.escalate:
        tier = ticket.tier.next()
        note = f"{ticket.tier}→{tier}: {note}"
    elif action is Action.escalate_to_supervisor and tier.rank < Tier.street.rank:
        tier = Tier.street

    handler_id = ticket.handler_id
    if action in (Action.accept, Action.self_close):
        handler_id = actor.id
    elif action in (Action.return_, Action.escalate, Action.escalate_to_supervisor, Action.reroute):
        handler_id = None

    event = AuditEvent(action, ticket.status, to_status, actor.id, actor.role, note)
    logger.debug("ticket move %s: %s → %s by %s", action, ticket.status, to_status, actor.role)
    return TransitionResult(
        from_status=ticket.status,
        to_status=to_status,
        action=action,
        tier=tier,
        status_before_hold=status_before_hold,
        reopen_count=ticket.reopen_count + (1 if action is Action.reopen else 0),
        rework_count=ticket.rework_count + (1 if action is Action.reject_verification else 0),
        handler_id=handler_id,
        event=event,
    )

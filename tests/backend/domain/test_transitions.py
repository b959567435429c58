"""The ticket state machine against an independent copy of the spec in issue 3."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from backend.domain.errors import DomainError, GuardFailed, InvalidTransition, PermissionDenied
from backend.domain.roles import Role, Tier
from backend.domain.tickets import (
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    TRANSITIONS,
    Action,
    Actor,
    TicketSnapshot,
    TicketStatus,
    transition,
)

# The spec, written out by hand from the issue and the brief (deliberately not derived from
# TRANSITIONS): action -> (from statuses, to status or PREVIOUS, roles, needs reason).
PREVIOUS = "previous"
HANDLERS = {"gridworker", "grid_leader", "department_handler", "community_dispatcher", "street_dispatcher"}
DISPATCHERS = {"community_dispatcher", "street_dispatcher"}
SPEC: dict[str, tuple[set[str], str, set[str], bool]] = {
    "dispatch": ({"submitted", "returned"}, "dispatched", DISPATCHERS | {"admin", "system"}, False),
    "accept": ({"dispatched"}, "accepted", HANDLERS, False),
    "start": ({"accepted"}, "in_progress", HANDLERS, False),
    "resolve": ({"in_progress"}, "resolved", HANDLERS, False),
    "verify": (
        {"resolved"},
        "verified",
        {"gridworker", "grid_leader", "community_dispatcher", "street_dispatcher", "supervisor"},
        False,
    ),
    "reject_verification": (
        {"resolved"},
        "in_progress",
        {"gridworker", "grid_leader", "community_dispatcher", "street_dispatcher", "supervisor"},
        True,
    ),
    "close": ({"verified"}, "closed", DISPATCHERS | {"resident", "admin", "system"}, False),
    "reopen": ({"verified", "closed"}, "dispatched", {"resident", "supervisor", "admin"}, True),
    "escalate_to_supervisor": ({"verified", "closed"}, "dispatched", {"resident", "supervisor", "admin"}, True),
    "reroute": (
        {"dispatched", "accepted", "in_progress"},
        "dispatched",
        DISPATCHERS | {"supervisor", "admin"},
        True,
    ),
    "return": (
        {"dispatched", "accepted"},
        "returned",
        {"gridworker", "grid_leader", "department_handler"},
        True,
    ),
    "escalate": (
        {"dispatched", "accepted", "in_progress", "returned"},
        "dispatched",
        HANDLERS | DISPATCHERS | {"supervisor", "system"},
        True,
    ),
    "request_extension": ({"accepted", "in_progress"}, "extension_requested", HANDLERS, True),
    "approve_extension": ({"extension_requested"}, PREVIOUS, DISPATCHERS | {"supervisor", "admin"}, False),
    "refuse_extension": ({"extension_requested"}, PREVIOUS, DISPATCHERS | {"supervisor", "admin"}, True),
    "suspend": (
        {"dispatched", "accepted", "in_progress"},
        "suspended",
        DISPATCHERS | {"supervisor", "admin"},
        True,
    ),
    "resume": ({"suspended"}, PREVIOUS, DISPATCHERS | {"supervisor", "admin"}, False),
    "cancel": ({"submitted", "dispatched", "returned"}, "cancelled", {"resident", "admin"}, True),
    "merge": (
        {"submitted", "dispatched", "returned"},
        "merged",
        DISPATCHERS | {"resident", "admin", "system"},
        False,
    ),
    "self_close": ({"submitted", "dispatched", "accepted", "in_progress"}, "closed", {"gridworker"}, False),
}
NEEDS_REASON = sorted(action for action, (*_, needs) in SPEC.items() if needs)
HOLD_ORIGIN = TicketStatus.in_progress  # where held tickets in the matrix came from

ACTOR_ID = 7
HANDLER_ID = 99
# Ticket fields an action's guard needs to pass (every other action passes on the default snapshot).
PASSING: dict[str, dict[str, object]] = {"escalate_to_supervisor": {"reopen_count": 2}}


def snapshot(status: TicketStatus, **changes: object) -> TicketSnapshot:
    """A ticket that passes every guard unless a test changes a field."""
    held = status in (TicketStatus.suspended, TicketStatus.extension_requested)
    base = TicketSnapshot(
        status=status,
        tier=Tier.grid,
        handler_id=HANDLER_ID,
        reopen_count=0,
        reopen_limit=2,
        status_before_hold=HOLD_ORIGIN if held else None,
        self_close_allowed=True,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_table_has_exactly_the_specified_moves() -> None:
    expected = {(TicketStatus(s), Action(a)) for a, (froms, *_) in SPEC.items() for s in froms}
    assert set(TRANSITIONS) == expected


@pytest.mark.parametrize(
    ("status", "action", "role"),
    list(itertools.product(TicketStatus, Action, Role)),
    ids=lambda v: str(v),
)
def test_every_status_action_role_combination(status: TicketStatus, action: Action, role: Role) -> None:
    froms, to, roles, _ = SPEC[action.value]
    ticket = snapshot(status, **PASSING.get(action.value, {}))
    actor = Actor(ACTOR_ID, role)
    if status.value in froms and role.value in roles:
        result = transition(ticket, action, actor, reason="现场需要协调")
        expected_to = HOLD_ORIGIN if to == PREVIOUS else TicketStatus(to)
        assert result.to_status is expected_to
        assert result.from_status is status
        assert result.event.action is action
        assert (result.event.from_status, result.event.to_status) == (status, expected_to)
        assert (result.event.actor_id, result.event.actor_role) == (ACTOR_ID, role)
    else:
        expected_error = InvalidTransition if status.value not in froms else PermissionDenied
        with pytest.raises(expected_error) as excinfo:
            transition(ticket, action, actor, reason="现场需要协调")
        assert isinstance(excinfo.value, DomainError)
        assert excinfo.value.message


def test_main_path_from_submitted_to_closed_writes_one_event_per_step() -> None:
    ticket = TicketSnapshot(status=TicketStatus.submitted, tier=Tier.grid)
    steps = [
        (Action.dispatch, Actor(None, Role.system)),
        (Action.accept, Actor(1, Role.gridworker)),
        (Action.start, Actor(1, Role.gridworker)),
        (Action.resolve, Actor(1, Role.gridworker)),
        (Action.verify, Actor(2, Role.grid_leader)),
        (Action.close, Actor(3, Role.resident)),
    ]
    events = []
    for action, actor in steps:
        result = transition(ticket, action, actor)
        events.append(result.event)
        ticket = dataclasses.replace(ticket, status=result.to_status, handler_id=result.handler_id)
    assert ticket.status is TicketStatus.closed
    assert [e.to_status for e in events] == [
        TicketStatus.dispatched,
        TicketStatus.accepted,
        TicketStatus.in_progress,
        TicketStatus.resolved,
        TicketStatus.verified,
        TicketStatus.closed,
    ]
    assert ticket.handler_id == 1


def test_handler_cannot_verify_own_work() -> None:
    ticket = snapshot(TicketStatus.resolved, handler_id=5)
    with pytest.raises(GuardFailed):
        transition(ticket, Action.verify, Actor(5, Role.gridworker))
    assert transition(ticket, Action.verify, Actor(6, Role.gridworker)).to_status is TicketStatus.verified


def test_the_handler_cannot_reject_their_own_work_either() -> None:
    ticket = snapshot(TicketStatus.resolved, handler_id=5)
    with pytest.raises(GuardFailed):
        transition(ticket, Action.reject_verification, Actor(5, Role.gridworker), reason="照片看不出")


def test_rejected_verification_is_rework_for_the_same_handler_and_counts() -> None:
    ticket = snapshot(TicketStatus.resolved, handler_id=5, rework_count=1)
    result = transition(ticket, Action.reject_verification, Actor(6, Role.grid_leader), reason=" 垃圾仍未清运 ")
    assert result.to_status is TicketStatus.in_progress
    assert (result.handler_id, result.rework_count, result.reopen_count) == (5, 2, 0)
    assert result.event.note == "垃圾仍未清运"


def test_past_the_reopen_limit_the_ticket_goes_to_supervision_at_street_tier() -> None:
    resident = Actor(3, Role.resident)
    under = snapshot(TicketStatus.verified, reopen_count=1, reopen_limit=2)
    with pytest.raises(GuardFailed):
        transition(under, Action.escalate_to_supervisor, resident, reason="还是没修好")
    past = dataclasses.replace(under, reopen_count=2)
    result = transition(past, Action.escalate_to_supervisor, resident, reason="还是没修好")
    assert (result.to_status, result.tier, result.handler_id) == (TicketStatus.dispatched, Tier.street, None)
    assert result.reopen_count == 2
    department = dataclasses.replace(past, tier=Tier.department)
    assert transition(department, Action.escalate_to_supervisor, resident, reason="x").tier is Tier.department


@pytest.mark.parametrize("origin", [TicketStatus.dispatched, TicketStatus.accepted, TicketStatus.in_progress])
def test_reroute_hands_the_ticket_back_for_a_new_owner(origin: TicketStatus) -> None:
    result = transition(snapshot(origin), Action.reroute, Actor(2, Role.community_dispatcher), reason="分类更正")
    assert (result.to_status, result.handler_id, result.tier) == (TicketStatus.dispatched, None, Tier.grid)


def test_accept_makes_the_actor_the_handler() -> None:
    result = transition(snapshot(TicketStatus.dispatched, handler_id=None), Action.accept, Actor(4, Role.gridworker))
    assert result.handler_id == 4


@pytest.mark.parametrize("action", NEEDS_REASON)
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_moves_that_need_a_reason_refuse_a_blank_one(action: str, reason: str | None) -> None:
    froms, _, roles, _ = SPEC[action]
    status = TicketStatus(sorted(froms)[0])
    role = Role(sorted(roles)[0])
    with pytest.raises(GuardFailed):
        transition(snapshot(status, **PASSING.get(action, {})), Action(action), Actor(ACTOR_ID, role), reason=reason)


def test_reason_becomes_the_audit_note() -> None:
    result = transition(
        snapshot(TicketStatus.accepted), Action.return_, Actor(1, Role.gridworker), reason=" 不属于本网格 "
    )
    assert result.event.note == "不属于本网格"
    assert result.to_status is TicketStatus.returned
    assert result.handler_id is None


def test_reopen_counts_up_to_the_limit_then_refuses() -> None:
    ticket = snapshot(TicketStatus.closed, reopen_count=0, reopen_limit=2)
    for expected_count in (1, 2):
        result = transition(ticket, Action.reopen, Actor(3, Role.resident), reason="问题未解决")
        assert result.to_status is TicketStatus.dispatched
        assert result.reopen_count == expected_count
        ticket = dataclasses.replace(ticket, status=TicketStatus.closed, reopen_count=result.reopen_count)
    with pytest.raises(GuardFailed):
        transition(ticket, Action.reopen, Actor(3, Role.resident), reason="问题还是未解决")


def test_escalation_climbs_one_tier_at_a_time_and_stops_at_department() -> None:
    ticket = snapshot(TicketStatus.in_progress, tier=Tier.grid)
    tiers = []
    for _ in range(3):
        result = transition(ticket, Action.escalate, Actor(None, Role.system), reason="超时")
        assert result.to_status is TicketStatus.dispatched
        assert result.handler_id is None
        assert result.event.note is not None and str(result.tier) in result.event.note
        tiers.append(result.tier)
        ticket = dataclasses.replace(ticket, status=result.to_status, tier=result.tier)
    assert tiers == [Tier.community, Tier.street, Tier.department]
    with pytest.raises(GuardFailed):
        transition(ticket, Action.escalate, Actor(None, Role.system), reason="超时")


def test_only_escalate_changes_the_tier() -> None:
    result = transition(
        snapshot(TicketStatus.dispatched, tier=Tier.street), Action.accept, Actor(1, Role.street_dispatcher)
    )
    assert result.tier is Tier.street


def test_self_close_needs_a_category_that_allows_it() -> None:
    with pytest.raises(GuardFailed):
        transition(
            snapshot(TicketStatus.accepted, self_close_allowed=False),
            Action.self_close,
            Actor(1, Role.gridworker),
        )
    result = transition(
        snapshot(TicketStatus.accepted, self_close_allowed=True), Action.self_close, Actor(1, Role.gridworker)
    )
    assert (result.to_status, result.handler_id) == (TicketStatus.closed, 1)


@pytest.mark.parametrize("origin", [TicketStatus.dispatched, TicketStatus.accepted, TicketStatus.in_progress])
def test_resume_returns_to_the_status_before_suspension(origin: TicketStatus) -> None:
    dispatcher = Actor(2, Role.community_dispatcher)
    held = transition(snapshot(origin, status_before_hold=None), Action.suspend, dispatcher, reason="等待产权确认")
    assert (held.to_status, held.status_before_hold) == (TicketStatus.suspended, origin)
    ticket = snapshot(held.to_status, status_before_hold=held.status_before_hold)
    resumed = transition(ticket, Action.resume, dispatcher)
    assert (resumed.to_status, resumed.status_before_hold) == (origin, None)


@pytest.mark.parametrize("origin", [TicketStatus.accepted, TicketStatus.in_progress])
@pytest.mark.parametrize(
    ("decision", "reason"), [(Action.approve_extension, None), (Action.refuse_extension, "理由不充分")]
)
def test_extension_decision_returns_to_the_status_before_the_request(
    origin: TicketStatus, decision: Action, reason: str | None
) -> None:
    asked = transition(snapshot(origin), Action.request_extension, Actor(1, Role.gridworker), reason="需采购配件")
    ticket = snapshot(asked.to_status, status_before_hold=asked.status_before_hold)
    decided = transition(ticket, decision, Actor(9, Role.supervisor), reason=reason)
    assert (decided.to_status, decided.status_before_hold) == (origin, None)


@pytest.mark.parametrize("before", [None, TicketStatus.closed, TicketStatus.submitted])
def test_leaving_a_hold_without_a_valid_previous_status_is_refused(before: TicketStatus | None) -> None:
    ticket = snapshot(TicketStatus.suspended, status_before_hold=before)
    with pytest.raises(GuardFailed):
        transition(ticket, Action.resume, Actor(2, Role.admin))


def test_open_and_terminal_statuses_partition_all_statuses() -> None:
    assert set(TicketStatus) == OPEN_STATUSES | TERMINAL_STATUSES
    assert not OPEN_STATUSES & TERMINAL_STATUSES
    assert {TicketStatus.closed, TicketStatus.cancelled, TicketStatus.merged} == TERMINAL_STATUSES


def test_tier_ladder_order_and_top() -> None:
    assert [t.rank for t in (Tier.grid, Tier.community, Tier.street, Tier.department)] == [0, 1, 2, 3]
    assert Tier.grid.next() is Tier.community
    assert Tier.street.next() is Tier.department
    with pytest.raises(GuardFailed):
        Tier.department.next()


def test_return_action_value_is_return() -> None:
    assert Action("return") is Action.return_

"""Who may do what to a ticket now: the domain rules chat, the API and the dashboard all ask."""

from __future__ import annotations

import dataclasses

import pytest

from backend.domain.errors import DomainError, GuardFailed, NotFound, PermissionDenied
from backend.domain.permissions import Acting, TicketFacts, actions_for, refusal
from backend.domain.roles import Role, Tier
from backend.domain.tickets import Action, Actor, TicketSnapshot, TicketStatus, transition

WORKER = Acting(Role.gridworker, person_id=10, staff_id=1)
OTHER_WORKER = Acting(Role.gridworker, person_id=20, staff_id=2)
DISPATCHER = Acting(Role.community_dispatcher, person_id=30, staff_id=3)
RESIDENT = Acting(Role.resident, person_id=40)


def ticket(status: TicketStatus, **changes: object) -> TicketFacts:
    """A resident's report assigned to WORKER, in scope, passing every guard unless changed."""
    held = status in (TicketStatus.suspended, TicketStatus.extension_requested)
    state = TicketSnapshot(
        status=status,
        tier=Tier.grid,
        handler_id=None,
        status_before_hold=TicketStatus.in_progress if held else None,
        self_close_allowed=True,
    )
    base = TicketFacts(
        number="T1", state=state, in_scope=True, patrol_find=False, assignee_id=1, reporter_id=RESIDENT.person_id
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_the_assignee_gets_the_handler_moves() -> None:
    assert actions_for(ticket(TicketStatus.dispatched), WORKER) == {Action.accept, Action.return_, Action.escalate}
    assert Action.resolve in actions_for(ticket(TicketStatus.in_progress), WORKER)


def test_a_gridworker_closes_only_their_own_patrol_find_on_the_spot() -> None:
    report = ticket(TicketStatus.accepted)
    assert Action.self_close not in actions_for(report, WORKER)
    assert isinstance(refusal(report, WORKER, Action.self_close), GuardFailed)
    find = dataclasses.replace(report, patrol_find=True)
    assert Action.self_close in actions_for(find, WORKER)


def test_a_frontline_worker_who_is_not_the_assignee_may_only_verify() -> None:
    assert actions_for(ticket(TicketStatus.resolved), OTHER_WORKER) == {Action.verify, Action.reject_verification}
    assert actions_for(ticket(TicketStatus.in_progress), OTHER_WORKER) == frozenset()
    assert isinstance(refusal(ticket(TicketStatus.in_progress), OTHER_WORKER, Action.resolve), PermissionDenied)
    assert isinstance(refusal(ticket(TicketStatus.dispatched), OTHER_WORKER, Action.escalate), PermissionDenied)


def test_a_dispatcher_keeps_their_own_moves_but_not_the_handlers() -> None:
    offered = actions_for(ticket(TicketStatus.dispatched), DISPATCHER)
    assert {Action.escalate, Action.suspend, Action.merge} <= offered
    assert Action.accept not in offered


def test_the_handler_may_not_verify_their_own_work() -> None:
    resolved = ticket(TicketStatus.resolved, assignee_id=None)
    handled = dataclasses.replace(resolved, state=dataclasses.replace(resolved.state, handler_id=WORKER.staff_id))
    assert not {Action.verify, Action.reject_verification} & actions_for(handled, WORKER)
    assert {Action.verify, Action.reject_verification} <= actions_for(handled, OTHER_WORKER)


def test_a_dispatcher_may_reroute_but_a_gridworker_may_not() -> None:
    assert Action.reroute in actions_for(ticket(TicketStatus.accepted), DISPATCHER)
    assert Action.reroute not in actions_for(ticket(TicketStatus.accepted), WORKER)


def test_past_the_reopen_limit_the_resident_is_offered_supervision_not_a_reopen() -> None:
    past = ticket(TicketStatus.verified)
    past = dataclasses.replace(past, state=dataclasses.replace(past.state, reopen_count=2))
    assert actions_for(past, RESIDENT) == {Action.close, Action.escalate_to_supervisor}


def test_out_of_scope_there_is_nothing_to_do_and_the_ticket_does_not_exist() -> None:
    hidden = ticket(TicketStatus.dispatched, in_scope=False)
    assert actions_for(hidden, DISPATCHER) == frozenset()
    assert isinstance(refusal(hidden, DISPATCHER, Action.escalate), NotFound)


def test_a_resident_acts_only_on_their_own_report() -> None:
    assert actions_for(ticket(TicketStatus.verified), RESIDENT) == {Action.close, Action.reopen}
    stranger = Acting(Role.resident, person_id=41)
    assert actions_for(ticket(TicketStatus.verified), stranger) == frozenset()


@pytest.mark.parametrize("status", list(TicketStatus))
@pytest.mark.parametrize("role", list(Role))
def test_offered_moves_are_exactly_the_moves_that_succeed(status: TicketStatus, role: Role) -> None:
    """With no assignee and a patrol find, the rules add nothing to the state machine's own."""
    facts = ticket(status, assignee_id=None, patrol_find=True, reporter_id=7)
    facts = dataclasses.replace(facts, state=dataclasses.replace(facts.state, tier=Tier.department, reopen_count=2))
    actor = Acting(role, person_id=7, staff_id=7)
    offered = actions_for(facts, actor)
    for action in Action:
        try:
            transition(facts.state, action, Actor(7, role), reason="原因")
        except DomainError:
            assert action not in offered
        else:
            assert action in offered

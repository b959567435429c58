"""Every (status, action, role) through the real service and database: an allowed move writes exactly
one audit event; anything else raises and changes nothing (status, events, outbox)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from backend.db.models import Notification, Person, Ticket, TicketEvent
from backend.domain.errors import DomainError
from backend.domain.roles import Role
from backend.domain.tickets import TRANSITIONS, Action, TicketStatus
from backend.services.actors import SYSTEM, ActorContext
from backend.services.people import resident_actor
from backend.services.workflow import apply_action

# Demo staff whose scope covers grid LC010101 (category garbage_piling → urban_management).
STAFF_FOR_ROLE = {
    Role.gridworker: "GW001",
    Role.grid_leader: "GL01",
    Role.community_dispatcher: "CD01",
    Role.street_dispatcher: "SD01",
    Role.department_handler: "DH12",
    Role.supervisor: "SUP01",
    Role.admin: "ADM01",
}
HOLDS = {TicketStatus.extension_requested: TicketStatus.in_progress, TicketStatus.suspended: TicketStatus.accepted}


def _actor(role: Role, staff, reporter: Person) -> ActorContext:
    if role is Role.system:
        return SYSTEM
    if role is Role.resident:
        return resident_actor(reporter)
    return staff(STAFF_FOR_ROLE[role])


def _counts(session, ticket: Ticket) -> tuple[int, int]:
    events = session.scalar(select(func.count(TicketEvent.id)).where(TicketEvent.ticket_id == ticket.id))
    notes = session.scalar(select(func.count(Notification.id)).where(Notification.ticket_id == ticket.id))
    return events, notes


@pytest.mark.parametrize("status", list(TicketStatus))
@pytest.mark.parametrize("action", list(Action))
def test_every_status_action_role_combination(session, runtime, report, staff, status, action):
    ticket = report()
    other = report(openid="o_other_reporter")
    reporter = session.get(Person, ticket.reporter_id)
    someone_else = staff("GW002").staff_id  # garbage_piling allows 自办自结, so with a patrol find self_close passes
    for role in Role:
        actor = _actor(role, staff, reporter)
        nested = session.begin_nested()
        ticket.status = status.value
        ticket.status_before_hold = HOLDS.get(status) and HOLDS[status].value
        # The actor is the assignee (handler moves), and someone else handled it (so 巡办分离 holds).
        ticket.assignee_id = actor.staff_id
        ticket.handler_id = someone_else if actor.staff_id is not None else None
        ticket.tier = "grid"
        # 转督办 is the move past the reopen limit; every other move passes below it.
        past_limit = action is Action.escalate_to_supervisor
        ticket.reopen_count = runtime.settings.reopen_limit if past_limit else 0
        ticket.source = "patrol"  # a gridworker's own find: the one kind of ticket 自办自结 may close
        session.flush()
        before_events, before_notes = _counts(session, ticket)
        rule = TRANSITIONS.get((status, action))
        allowed = rule is not None and role in rule.roles
        try:
            apply_action(
                session,
                runtime,
                ticket,
                action,
                actor,
                reason="测试原因",
                merge_into=other if action is Action.merge else None,
            )
        except DomainError:
            assert not allowed, f"{role} {action} from {status} should be allowed"
            session.refresh(ticket)
            assert ticket.status == status.value
            assert _counts(session, ticket) == (before_events, before_notes)
        else:
            assert allowed, f"{role} {action} from {status} should be refused"
            after_events, _ = _counts(session, ticket)
            assert after_events == before_events + 1
            expected = rule.to or HOLDS[status]
            assert ticket.status == expected.value
        nested.rollback()
        session.expire_all()

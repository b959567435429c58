"""The SLA job end to end: yellow 督办 reminder, then the 吹哨 ladder grid → community → street →
department, then the supervisor — every step in the audit trail and the outbox."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from backend.db.models import Notification, Staff
from backend.domain.notifications import NoticeKind
from backend.usecases.operations import run_sla_tick


def _assignee(session, ticket) -> str:
    return session.get(Staff, ticket.assignee_id).code


def _kinds(session, ticket) -> list[tuple[str, str]]:
    rows = session.execute(
        select(Notification.kind, Notification.external_id)
        .where(Notification.ticket_id == ticket.id)
        .order_by(Notification.id)
    ).all()
    return [(k, e) for k, e in rows]


def test_escalation_ladder_end_to_end(session, runtime, report, clock):
    ticket = report()  # garbage_piling: grid tier, 8 working hours; Monday 10:00
    assert ticket.tier == "grid" and _assignee(session, ticket) == "GW001"

    clock.advance(hours=1)
    assert run_sla_tick(session, runtime).lights == 0
    assert ticket.light == "green"

    # Monday 10:00 + 6.5 working hours (lunch 12:00–13:30) = Tuesday 09:00: ≥ 75 % used → yellow.
    clock.at = ticket.due_at - timedelta(hours=1, minutes=30)
    summary = run_sla_tick(session, runtime)
    session.refresh(ticket)
    assert ticket.light == "yellow" and summary.reminders == 1
    assert (NoticeKind.task_reminder, "gw_001") in _kinds(session, ticket)
    # A second tick right away does not remind again.
    assert run_sla_tick(session, runtime).reminders == 0

    ladder = [("community", "CD01"), ("street", "SD01"), ("department", "DH12")]
    for tier, code in ladder:
        clock.at = ticket.due_at + timedelta(minutes=1)
        summary = run_sla_tick(session, runtime)
        session.refresh(ticket)
        assert summary.escalations == 1, tier
        assert ticket.tier == tier and _assignee(session, ticket) == code
        assert ticket.status == "dispatched" and ticket.light == "green"
        assert ticket.due_at > clock.now()

    # Red at the department tier: no further tier, the supervisor is told (督办).
    clock.at = ticket.due_at + timedelta(minutes=1)
    summary = run_sla_tick(session, runtime)
    session.refresh(ticket)
    assert summary.escalations == 0 and summary.reminders == 1
    assert ticket.light == "red" and ticket.tier == "department"
    assert (NoticeKind.supervise, "sup_01") in _kinds(session, ticket)

    trail = [(e.action, e.actor_role) for e in ticket.events]
    assert [a for a, _ in trail if a == "escalate"] == ["escalate"] * 3
    assert trail.count(("supervise", "system")) == 2
    assert all(role == "system" for action, role in trail if action in ("escalate", "light", "supervise"))


def test_suspended_ticket_is_not_escalated(session, runtime, report, clock, staff):
    from backend.domain.tickets import Action
    from backend.services.workflow import perform_action

    ticket = report()
    perform_action(session, runtime, ticket.number, Action.suspend, staff("CD01"), reason="等待业主配合")
    session.commit()
    clock.at = ticket.due_at + timedelta(days=3)
    summary = run_sla_tick(session, runtime)
    session.refresh(ticket)
    assert summary.escalations == 0 and ticket.tier == "grid" and ticket.status == "suspended"

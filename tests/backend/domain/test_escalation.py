"""The SLA planner: lights, 督办 reminders and the 吹哨报到 ladder, on a moving fake clock."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from backend.domain.escalation import Recipient, SlaAction, SlaActionKind, SlaView, plan_sla_actions
from backend.domain.roles import Role, Tier
from backend.domain.sla import Light
from backend.domain.tickets import Action, Actor, TicketSnapshot, TicketStatus, transition

from .test_sla import local, real_calendar

CAL = real_calendar()
THRESHOLD = 0.75


def view(**changes: object) -> SlaView:
    """A dispatched grid-tier 8-hour ticket created Monday 2026-11-23 09:00 (due Tuesday 09:30)."""
    created = local("2026-11-23 09:00")
    base = SlaView(
        id=1,
        status=TicketStatus.dispatched,
        tier=Tier.grid,
        created_at=created,
        due_at=CAL.due_at(created, 8, urgent=False),
        urgent=False,
        light=Light.green,
        hours_normal=8,
        hours_urgent=2,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def apply(ticket: SlaView, actions: list[SlaAction], now: datetime) -> SlaView:
    """Do what the SLA job does with the plan; escalations go through the real state machine."""
    for action in actions:
        assert action.ticket_id == ticket.id
        if action.kind is SlaActionKind.set_light:
            ticket = dataclasses.replace(ticket, light=action.new_light)
        elif action.kind is SlaActionKind.remind:
            ticket = dataclasses.replace(ticket, reminded_at=now)
        else:
            snapshot = TicketSnapshot(status=ticket.status, tier=ticket.tier)
            result = transition(snapshot, Action.escalate, Actor(None, Role.system), reason=action.note)
            assert result.tier is action.new_tier
            ticket = dataclasses.replace(
                ticket,
                status=result.to_status,
                tier=result.tier,
                due_at=action.new_due_at,
                escalated_at=now,
                light=action.new_light,
            )
    return ticket


def describe(action: SlaAction) -> str:
    if action.kind is SlaActionKind.set_light:
        return f"light {action.new_light}"
    if action.kind is SlaActionKind.remind:
        return f"remind {action.recipient}"
    return f"escalate {action.new_tier}"


def run_clock(ticket: SlaView, start: datetime, end: datetime, step: timedelta) -> list[tuple[datetime, str]]:
    """Tick from start to end, applying each plan; return what happened when."""
    log = []
    now = start
    while now <= end:
        actions = plan_sla_actions([ticket], now, CAL, THRESHOLD)
        log.extend((now, describe(a)) for a in actions)
        ticket = apply(ticket, actions, now)
        now += step
    return log


def test_full_ladder_grid_to_department_then_supervisor_reminders() -> None:
    log = run_clock(view(), local("2026-11-23 09:00"), local("2026-11-27 18:00"), timedelta(minutes=15))
    # Worked by hand on 08:30–12:00 / 13:30–17:30 days; each tier gets a fresh 8 working hours.
    assert log == [
        (local("2026-11-23 16:30"), "light yellow"),  # 6 of 8 h used
        (local("2026-11-23 16:30"), "remind assignee"),
        (local("2026-11-24 09:30"), "light red"),
        (local("2026-11-24 09:30"), "escalate community"),  # due Wed 10:00
        (local("2026-11-24 17:00"), "light yellow"),
        (local("2026-11-24 17:00"), "remind assignee"),
        (local("2026-11-25 10:00"), "light red"),
        (local("2026-11-25 10:00"), "escalate street"),  # due Thu 10:30
        (local("2026-11-25 17:30"), "light yellow"),
        (local("2026-11-25 17:30"), "remind assignee"),
        (local("2026-11-26 10:30"), "light red"),
        (local("2026-11-26 10:30"), "escalate department"),  # due Fri 11:00
        (local("2026-11-27 09:00"), "light yellow"),
        (local("2026-11-27 09:00"), "remind assignee"),
        (local("2026-11-27 11:00"), "light red"),
        (local("2026-11-27 11:00"), "remind supervisor"),
        (local("2026-11-27 16:30"), "remind supervisor"),  # 4 working hours later
    ]


def test_escalation_gives_a_fresh_due_time_from_the_category_limit() -> None:
    now = local("2026-11-24 09:30")
    actions = plan_sla_actions([view(light=Light.yellow, reminded_at=local("2026-11-23 16:30"))], now, CAL, THRESHOLD)
    escalate = [a for a in actions if a.kind is SlaActionKind.escalate]
    assert len(escalate) == 1
    assert escalate[0].new_tier is Tier.community
    assert escalate[0].new_due_at == CAL.add_working_hours(now, 8)
    assert escalate[0].new_light is Light.green


def test_urgent_escalation_uses_the_urgent_limit_on_the_wall_clock() -> None:
    created = local("2026-11-27 22:00")
    ticket = view(created_at=created, due_at=CAL.due_at(created, 2, urgent=True), urgent=True)
    now = local("2026-11-28 00:00")
    (_, escalate) = plan_sla_actions([ticket], now, CAL, THRESHOLD)
    assert escalate.kind is SlaActionKind.escalate
    assert escalate.new_due_at == now + timedelta(hours=2)


def test_yellow_reminder_is_sent_once_then_only_after_the_repeat_interval() -> None:
    created = local("2026-11-23 09:00")
    ticket = view(created_at=created, due_at=CAL.due_at(created, 40, urgent=False), hours_normal=40)
    first_yellow = CAL.add_working_hours(created, 30)
    assert plan_sla_actions([ticket], first_yellow - timedelta(minutes=1), CAL, THRESHOLD) == []

    actions = plan_sla_actions([ticket], first_yellow, CAL, THRESHOLD)
    assert [a.kind for a in actions] == [SlaActionKind.set_light, SlaActionKind.remind]
    assert actions[1].recipient is Recipient.assignee
    ticket = apply(ticket, actions, first_yellow)

    for minutes in (1, 60, 120, 239):
        later = CAL.add_working_hours(first_yellow, minutes / 60)
        assert plan_sla_actions([ticket], later, CAL, THRESHOLD) == []
    four_hours_on = CAL.add_working_hours(first_yellow, 4)
    assert [a.kind for a in plan_sla_actions([ticket], four_hours_on, CAL, THRESHOLD)] == [SlaActionKind.remind]


def test_remind_interval_is_configurable() -> None:
    now = local("2026-11-23 17:00")
    ticket = view(light=Light.yellow, reminded_at=local("2026-11-23 16:30"))
    assert plan_sla_actions([ticket], now, CAL, THRESHOLD, remind_every_hours=0.5) != []
    assert plan_sla_actions([ticket], now, CAL, THRESHOLD, remind_every_hours=1) == []


@pytest.mark.parametrize(
    "status",
    [
        TicketStatus.suspended,
        TicketStatus.extension_requested,
        TicketStatus.resolved,
        TicketStatus.verified,
        TicketStatus.closed,
        TicketStatus.cancelled,
        TicketStatus.merged,
    ],
)
def test_tickets_whose_clock_is_stopped_are_left_alone(status: TicketStatus) -> None:
    overdue_by_days = local("2026-12-10 10:00")
    assert plan_sla_actions([view(status=status)], overdue_by_days, CAL, THRESHOLD) == []


@pytest.mark.parametrize(
    "status",
    [TicketStatus.dispatched, TicketStatus.accepted, TicketStatus.in_progress, TicketStatus.returned],
)
def test_overdue_tickets_with_a_running_clock_escalate(status: TicketStatus) -> None:
    actions = plan_sla_actions([view(status=status)], local("2026-12-10 10:00"), CAL, THRESHOLD)
    assert [a.kind for a in actions] == [SlaActionKind.set_light, SlaActionKind.escalate]


def test_a_ticket_going_straight_from_green_to_red_escalates_without_a_yellow_reminder() -> None:
    actions = plan_sla_actions([view()], local("2026-11-24 10:00"), CAL, THRESHOLD)
    assert [(a.kind, a.new_light) for a in actions] == [
        (SlaActionKind.set_light, Light.red),
        (SlaActionKind.escalate, Light.green),
    ]


def test_no_second_escalation_in_the_same_overdue_period() -> None:
    ticket = view(light=Light.red, tier=Tier.community, escalated_at=local("2026-11-24 09:30"))
    assert plan_sla_actions([ticket], local("2026-11-24 11:00"), CAL, THRESHOLD) == []


def test_a_green_ticket_with_a_green_light_needs_nothing() -> None:
    assert plan_sla_actions([view()], local("2026-11-23 10:00"), CAL, THRESHOLD) == []


def test_plan_covers_many_tickets_each_on_its_own_clock() -> None:
    tickets = [
        view(id=1),
        view(id=2, status=TicketStatus.suspended),
        view(id=3, tier=Tier.department),
    ]
    actions = plan_sla_actions(tickets, local("2026-11-24 10:00"), CAL, THRESHOLD)
    assert [(a.ticket_id, a.kind) for a in actions] == [
        (1, SlaActionKind.set_light),
        (1, SlaActionKind.escalate),
        (3, SlaActionKind.set_light),
        (3, SlaActionKind.remind),
    ]
    assert actions[3].recipient is Recipient.supervisor

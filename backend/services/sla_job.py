"""The SLA job (督办 and 吹哨): refresh warning lights, remind on yellow, escalate on red."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Category, Staff, Ticket
from backend.domain.escalation import Recipient, SlaActionKind, SlaView, plan_for_ticket
from backend.domain.notifications import NoticeKind
from backend.domain.roles import Role, Tier
from backend.domain.sla import Light
from backend.domain.tickets import CLOCK_RUNNING_STATUSES, Action, TicketStatus
from backend.runtime import Runtime
from backend.services import notify
from backend.services.actors import SYSTEM
from backend.services.audit import record_event
from backend.services.workflow import apply_action

BATCH = 500


@dataclass
class SlaTickSummary:
    """What one run of the SLA job did."""

    checked: int = 0
    lights: int = 0
    reminders: int = 0
    escalations: int = 0


def check_next_batch(session: Session, runtime: Runtime, summary: SlaTickSummary, *, after_id: int) -> int | None:
    """Check the next batch of tickets whose clock runs, ids above `after_id`, counting into `summary`.

    The batch's tickets stay locked until the caller commits (one transaction per batch, so a tick never
    holds every ticket). Returns the last id looked at, or None when no ticket is left.
    """
    hours = {
        c.code: (c.hours_normal or 8.0, c.hours_urgent or 2.0)
        for c in session.scalars(select(Category).where(Category.parent_code.is_not(None)))
    }
    running = [s.value for s in CLOCK_RUNNING_STATUSES]
    ids = list(
        session.scalars(
            select(Ticket.id)
            .where(Ticket.status.in_(running), Ticket.due_at.is_not(None), Ticket.id > after_id)
            .order_by(Ticket.id)
            .limit(BATCH)
        )
    )
    if not ids:
        return None
    for ticket in session.scalars(
        select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id).with_for_update(skip_locked=True)
    ):
        summary.checked += 1
        _apply(session, runtime, ticket, hours.get(ticket.category_code or "", (8.0, 2.0)), summary)
    return ids[-1]


def _apply(
    session: Session, runtime: Runtime, ticket: Ticket, hours: tuple[float, float], summary: SlaTickSummary
) -> None:
    now = runtime.clock.now()
    view = SlaView(
        id=ticket.id,
        status=TicketStatus(ticket.status),
        tier=Tier(ticket.tier),
        created_at=ticket.clock_started_at or ticket.created_at,
        due_at=ticket.due_at,  # type: ignore[arg-type]
        urgent=ticket.priority == "urgent",
        light=Light(ticket.light),
        hours_normal=hours[0],
        hours_urgent=hours[1],
        reminded_at=ticket.reminded_at,
        escalated_at=ticket.escalated_at,
    )
    for action in plan_for_ticket(view, now, runtime.calendar, runtime.city.calendar.warning_threshold):
        if action.kind is SlaActionKind.set_light and action.new_light is not None:
            record_event(
                session, ticket, SYSTEM, "light", at=now, note=f"预警亮灯：{ticket.light} → {action.new_light}"
            )
            ticket.light = action.new_light.value
            summary.lights += 1
        elif action.kind is SlaActionKind.remind:
            event = record_event(session, ticket, SYSTEM, "supervise", at=now, note=action.note)
            ticket.reminded_at = now
            for staff in _reminder_recipients(session, ticket, action.recipient):
                notify.notify_staff(
                    session,
                    staff=staff,
                    ticket=ticket,
                    kind=NoticeKind.supervise if action.recipient is Recipient.supervisor else NoticeKind.task_reminder,
                    key=f"remind:{staff.id}",
                    event=event,
                    note=action.note,
                )
            summary.reminders += 1
        elif action.kind is SlaActionKind.escalate:
            apply_action(session, runtime, ticket, Action.escalate, SYSTEM, reason=action.note)
            ticket.due_at = action.new_due_at
            ticket.clock_started_at = now
            ticket.light = (action.new_light or Light.green).value
            summary.escalations += 1


def _reminder_recipients(session: Session, ticket: Ticket, recipient: Recipient | None) -> list[Staff]:
    if recipient is Recipient.supervisor:
        return list(session.scalars(select(Staff).where(Staff.role == Role.supervisor.value, Staff.active.is_(True))))
    staff = session.get(Staff, ticket.assignee_id) if ticket.assignee_id else None
    return [staff] if staff else []

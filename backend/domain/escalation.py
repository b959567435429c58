"""The SLA planner: lights, 督办 reminders and the 吹哨报到 ladder grid → community → street → department.

`plan_sla_actions()` is pure: it reads ticket views and the time and returns what the SLA job
should do; the job applies the actions in list order, each through the state machine and the
audit trail. The rules:

- Only tickets whose clock runs count (CLOCK_RUNNING_STATUSES: dispatched, accepted, in_progress,
  returned). Held tickets (suspended, extension_requested), resolved/verified and finished
  tickets are left untouched, lights included.
- The clock of the current tier starts at `created_at`, or at `escalated_at` after an escalation.
- `set_light` whenever the computed light differs from the stored one.
- Yellow → `remind` the assignee: once when it turns yellow (no reminder since the clock of this
  tier started), then again at most every `remind_every_hours` hours on the ticket's clock
  (working hours; wall-clock for around-the-clock urgent tickets).
- Red below the department tier → `escalate` one tier up, once per overdue period (not when an
  escalation already happened at or after the current due time). The action carries the new
  tier, a fresh due time from now on the category's limit, and the light that goes with it; it is
  listed after the `set_light(red)` so the trail shows the ticket went red first.
- Red at the department tier → `remind` the supervisor (督办) instead: once when it turns red,
  then at most every `remind_every_hours` hours.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from backend.domain.roles import Tier
from backend.domain.sla import Light, WorkingCalendar
from backend.domain.tickets import CLOCK_RUNNING_STATUSES, TicketStatus

logger = logging.getLogger(__name__)

DEFAULT_REMIND_EVERY_HOURS = 4.0

NOTE_YELLOW = "黄灯督办：办理时限已用过{percent}%"
NOTE_ESCALATE = "超时自动吹哨，上报至{tier}"
NOTE_SUPERVISOR = "职能部门办理超时，提请督办"


class SlaActionKind(StrEnum):
    """What the SLA job should do to one ticket."""

    set_light = "set_light"
    remind = "remind"
    escalate = "escalate"


class Recipient(StrEnum):
    """Who a 督办 reminder goes to."""

    assignee = "assignee"
    supervisor = "supervisor"


@dataclass(frozen=True, slots=True)
class SlaView:
    """What the planner needs to know about one ticket."""

    id: int
    status: TicketStatus
    tier: Tier
    created_at: datetime  # when the SLA clock started: dispatch time (or creation)
    due_at: datetime
    urgent: bool
    light: Light
    hours_normal: float
    hours_urgent: float
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SlaAction:
    """One step for the SLA job; only the fields of its kind are set."""

    kind: SlaActionKind
    ticket_id: int
    note: str
    new_light: Light | None = None
    recipient: Recipient | None = None
    new_tier: Tier | None = None
    new_due_at: datetime | None = None


def _clock_start(ticket: SlaView) -> datetime:
    if ticket.escalated_at is None:
        return ticket.created_at
    return max(ticket.created_at, ticket.escalated_at)


def _reminder_due(ticket: SlaView, since: datetime, now: datetime, calendar: WorkingCalendar, every: float) -> bool:
    """True when no reminder was sent since `since`, or the last one is `every` hours old."""
    if ticket.reminded_at is None or ticket.reminded_at < since:
        return True
    return calendar.elapsed_hours(ticket.reminded_at, now, urgent=ticket.urgent) >= every


def plan_for_ticket(
    ticket: SlaView,
    now: datetime,
    calendar: WorkingCalendar,
    threshold: float,
    *,
    remind_every_hours: float = DEFAULT_REMIND_EVERY_HOURS,
) -> list[SlaAction]:
    """The SLA actions for one ticket at `now`, in the order to apply them."""
    if ticket.status not in CLOCK_RUNNING_STATUSES:
        return []
    start = _clock_start(ticket)
    light = calendar.light(start, ticket.due_at, now, urgent=ticket.urgent, threshold=threshold)
    actions: list[SlaAction] = []
    if light != ticket.light:
        actions.append(SlaAction(SlaActionKind.set_light, ticket.id, f"{ticket.light}→{light}", new_light=light))

    if light is Light.yellow and _reminder_due(ticket, start, now, calendar, remind_every_hours):
        actions.append(
            SlaAction(
                SlaActionKind.remind,
                ticket.id,
                NOTE_YELLOW.format(percent=round(threshold * 100)),
                recipient=Recipient.assignee,
            )
        )
    elif light is Light.red and ticket.tier.is_top:
        if _reminder_due(ticket, ticket.due_at, now, calendar, remind_every_hours):
            actions.append(SlaAction(SlaActionKind.remind, ticket.id, NOTE_SUPERVISOR, recipient=Recipient.supervisor))
    elif light is Light.red and (ticket.escalated_at is None or ticket.escalated_at < ticket.due_at):
        new_tier = ticket.tier.next()
        hours = ticket.hours_urgent if ticket.urgent else ticket.hours_normal
        new_due = calendar.due_at(now, hours, urgent=ticket.urgent)
        actions.append(
            SlaAction(
                SlaActionKind.escalate,
                ticket.id,
                NOTE_ESCALATE.format(tier=new_tier),
                new_light=calendar.light(now, new_due, now, urgent=ticket.urgent, threshold=threshold),
                new_tier=new_tier,
                new_due_at=new_due,
            )
        )
    return actions


def plan_sla_actions(
    tickets: Iterable[SlaView],
    now: datetime,
    calendar: WorkingCalendar,
    threshold: float,
    *,
    remind_every_hours: float = DEFAULT_REMIND_EVERY_HOURS,
) -> list[SlaAction]:
    """The SLA actions for all tickets at `now`, grouped per ticket in the order to apply them."""
    actions: list[SlaAction] = []
    for ticket in tickets:
        actions.extend(plan_for_ticket(ticket, now, calendar, threshold, remind_every_hours=remind_every_hours))
    if actions:
        logger.info("SLA plan at %s: %d actions", now.isoformat(), len(actions))
    return actions

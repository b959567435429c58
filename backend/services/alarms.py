"""Alarms for urgent reports: raised with the report, pushed to the dispatchers at once, acknowledged by a
person (recorded), and sent up a level when nobody acknowledges in time (see backend/domain/alarms.py)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, bindparam, false, select
from sqlalchemy.orm import Session

from backend.db.fixed_sets import in_fixed
from backend.db.models import Alarm, Staff, Ticket
from backend.domain.alarms import AlarmLevel, first_level
from backend.domain.errors import GuardFailed, NotFound, PermissionDenied
from backend.domain.notifications import NoticeKind
from backend.domain.roles import Role
from backend.runtime import Runtime
from backend.services import notify
from backend.services.actors import SYSTEM, ActorContext
from backend.services.audit import record_event
from backend.services.people import REACHABLE
from backend.services.workflow import load_ticket

DISPATCHER_OF = {AlarmLevel.community: Role.community_dispatcher, AlarmLevel.street: Role.street_dispatcher}
WATCHERS = (Role.admin, Role.supervisor)  # the district command centre sees and may acknowledge every alarm


def raise_alarm(session: Session, runtime: Runtime, ticket: Ticket) -> Alarm:
    """Raise the alarm of an urgent report at the lowest level that knows its area, and push it there now."""
    community = ticket.community_code or ticket.desk_community_code
    street = ticket.street_code or ticket.desk_street_code
    level = first_level(community_code=community, street_code=street)
    now = runtime.clock.now()
    alarm = Alarm(
        ticket=ticket,
        level=level.value,
        area_code={AlarmLevel.community: community, AlarmLevel.street: street}.get(level),
        raised_at=now,
        level_since=now,
    )
    session.add(alarm)
    _push(session, runtime, ticket, alarm, action="alarm")
    return alarm


def acknowledge(session: Session, runtime: Runtime, number: str, actor: ActorContext) -> Alarm:
    """Record that a person has the urgent report in hand; only those the alarm was sent to (or above) may."""
    ticket = load_ticket(session, number, lock=True)
    alarm = session.scalar(select(Alarm).where(Alarm.ticket_id == ticket.id))
    if alarm is None:
        raise NotFound("error.no_alarm", number=ticket.number)
    if not _may_ack(runtime, actor, alarm):
        raise PermissionDenied("error.alarm_not_yours", number=ticket.number)
    if alarm.acked_at is not None:
        raise GuardFailed("error.alarm_already_acked", number=ticket.number)
    alarm.acked_at, alarm.acked_by = runtime.clock.now(), actor.staff_id
    record_event(
        session,
        ticket,
        actor,
        "alarm_ack",
        at=alarm.acked_at,
        data={"level": alarm.level, "after_s": round((alarm.acked_at - alarm.raised_at).total_seconds())},
    )
    return alarm


def escalate_unacknowledged(session: Session, runtime: Runtime, *, batch: int = 200) -> int:
    """Send every alarm nobody acknowledged in time up a level (at the district: to the district again)."""
    now = runtime.clock.now()
    cutoff = now - timedelta(minutes=runtime.settings.alarm_ack_minutes)
    due = session.scalars(
        select(Alarm)
        .where(Alarm.acked_at.is_(None), Alarm.level_since <= cutoff)
        .order_by(Alarm.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    for alarm in due:
        ticket = session.get(Ticket, alarm.ticket_id)
        if ticket is None:
            continue
        up = AlarmLevel(alarm.level).next()
        street = ticket.street_code or ticket.desk_street_code
        if up is AlarmLevel.street and street is None:
            up = AlarmLevel.district  # no street known: straight to the district
        if up is not None:
            alarm.level, alarm.area_code = up.value, street if up is AlarmLevel.street else None
        alarm.level_since = now
        session.flush()
        _push(session, runtime, ticket, alarm, action="alarm_escalate")
    return len(due)


def open_alarms_for(actor: ActorContext) -> ColumnElement[bool]:
    """Unacknowledged alarms this actor should see (and hear) on the dashboard."""
    if actor.role in WATCHERS:
        return Alarm.acked_at.is_(None)
    for level, role in DISPATCHER_OF.items():
        if actor.role is role and actor.scope_code:
            return (Alarm.acked_at.is_(None)) & (Alarm.level == level.value) & (Alarm.area_code == actor.scope_code)
    return false()


def open_alarms(session: Session, actor: ActorContext) -> list[tuple[Alarm, Ticket]]:
    """The actor's unacknowledged alarms with their tickets, oldest first."""
    rows = session.execute(
        select(Alarm, Ticket)
        .join(Ticket, Ticket.id == Alarm.ticket_id)
        .where(open_alarms_for(actor))
        .order_by(Alarm.id)
    ).all()
    return [(alarm, ticket) for alarm, ticket in rows]


# Who hears an alarm, built once (an urgent report asks at once): the level's dispatchers of its area, else the
# district-wide watchers.
_DISPATCHERS = (
    select(Staff)
    .where(Staff.role == bindparam("role"), Staff.scope_code == bindparam("area"), Staff.active.is_(True))
    .order_by(Staff.id)
    .options(REACHABLE)
)
_WATCHERS = (
    select(Staff)
    .where(in_fixed(Staff.role, WATCHERS), Staff.scope_code.is_(None), Staff.active.is_(True))
    .order_by(Staff.id)
    .options(REACHABLE)
)


def _recipients(session: Session, alarm: Alarm) -> list[Staff]:
    role = DISPATCHER_OF.get(AlarmLevel(alarm.level))
    if role is not None and alarm.area_code:
        found = session.scalars(_DISPATCHERS, {"role": role.value, "area": alarm.area_code})
    else:
        found = session.scalars(_WATCHERS)
    return list(found.unique())


def _push(session: Session, runtime: Runtime, ticket: Ticket, alarm: Alarm, *, action: str) -> None:
    event = record_event(
        session,
        ticket,
        SYSTEM,
        action,
        at=runtime.clock.now(),
        note=alarm.level,
        data={"level": alarm.level, "area": alarm.area_code},
    )
    for staff in _recipients(session, alarm):
        notify.notify_staff(
            session,
            staff=staff,
            ticket=ticket,
            kind=NoticeKind.urgent_alarm,
            key=f"alarm:{staff.id}",
            event=event,
            level=alarm.level,
        )


def _may_ack(runtime: Runtime, actor: ActorContext, alarm: Alarm) -> bool:
    if actor.role in WATCHERS:
        return True
    level = AlarmLevel(alarm.level)
    if actor.role is Role.community_dispatcher:
        return level is AlarmLevel.community and alarm.area_code == actor.scope_code
    if actor.role is Role.street_dispatcher and actor.scope_code:
        if level is AlarmLevel.street:
            return alarm.area_code == actor.scope_code
        return level is AlarmLevel.community and runtime.ancestor_at(alarm.area_code, "street") == actor.scope_code
    return False

"""Moving tickets through the state machine: one transaction holds the change, its audit event
and its notifications."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.cityconfig import Subcategory
from backend.db.models import Person, Staff, Ticket, TicketEvent
from backend.domain.errors import GuardFailed, NotFound, PermissionDenied
from backend.domain.notifications import NoticeKind
from backend.domain.permissions import Acting, TicketFacts, actions_for, check_may
from backend.domain.roles import Role, Tier
from backend.domain.tickets import Action, TicketSnapshot, TicketStatus, transition
from backend.runtime import Runtime
from backend.services import notify
from backend.services.access import can_see, check_may_touch
from backend.services.actors import SYSTEM, ActorContext
from backend.services.assignment import choose_assignee, choose_verifier, dispatchers_for, supervisors_for
from backend.services.audit import record_event
from backend.services.categories import subcategory
from backend.services.staff_directory import check_assignee

logger = logging.getLogger(__name__)

# What the reporter hears after each action (if anything). A failed check (reject_verification) is not
# told: the resident hears "resolved" only when a check passes (verify).
_RESIDENT_NOTICE: dict[Action, NoticeKind] = {
    Action.dispatch: NoticeKind.dispatched,
    Action.accept: NoticeKind.accepted,
    Action.start: NoticeKind.in_progress,
    Action.verify: NoticeKind.resolved,
    Action.self_close: NoticeKind.closed,
    Action.close: NoticeKind.closed,
    Action.reopen: NoticeKind.reopened,
    Action.escalate: NoticeKind.escalated,
    Action.escalate_to_supervisor: NoticeKind.supervised,
    Action.cancel: NoticeKind.cancelled,
    Action.merge: NoticeKind.merged,
}


def load_ticket(session: Session, number_or_id: str | int, *, lock: bool = False) -> Ticket:
    """A ticket by public number or id, optionally locked FOR UPDATE; NotFound otherwise."""
    stmt = select(Ticket)
    stmt = (
        stmt.where(Ticket.id == number_or_id)
        if isinstance(number_or_id, int)
        else stmt.where(Ticket.number == number_or_id)
    )
    if lock:
        stmt = stmt.with_for_update()
    ticket = session.scalar(stmt)
    if ticket is None:
        raise NotFound("error.ticket_not_found", number=number_or_id)
    return ticket


def followers_of(ticket: Ticket) -> set[int]:
    """Ids of people following a ticket besides the reporter."""
    return {person.id for person in ticket.followers}


def category_of(session: Session, runtime: Runtime, ticket: Ticket) -> Subcategory | None:
    """The ticket's subcategory."""
    return subcategory(session, runtime, ticket.category_code)


def snapshot(session: Session, runtime: Runtime, ticket: Ticket) -> TicketSnapshot:
    """The pure-domain view of a ticket."""
    category = category_of(session, runtime, ticket)
    return TicketSnapshot(
        status=TicketStatus(ticket.status),
        tier=Tier(ticket.tier),
        handler_id=ticket.handler_id,
        reopen_count=ticket.reopen_count,
        reopen_limit=runtime.settings.reopen_limit,
        rework_count=ticket.rework_count,
        status_before_hold=TicketStatus(ticket.status_before_hold) if ticket.status_before_hold else None,
        self_close_allowed=bool(category and category.self_close),
    )


def apply_action(
    session: Session,
    runtime: Runtime,
    ticket: Ticket,
    action: Action,
    actor: ActorContext,
    *,
    reason: str | None = None,
    assignee: Staff | None = None,
    merge_into: Ticket | None = None,
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    """Make one allowed move and write its audit event and notifications; raises DomainError otherwise.

    Does not commit: the caller owns the transaction.
    """
    seen, who = facts(session, runtime, ticket, actor), acting(actor)
    check_may(seen, who, action)
    if action is Action.merge and (merge_into is None or merge_into.id == ticket.id):
        raise GuardFailed("error.merge_needs_other_ticket")
    result = transition(seen.state, action, who.actor, reason=reason)
    now = runtime.clock.now()
    old_tier, old_assignee_id = ticket.tier, ticket.assignee_id
    ticket.status = result.to_status.value
    ticket.tier = result.tier.value
    ticket.status_before_hold = result.status_before_hold.value if result.status_before_hold else None
    ticket.reopen_count = result.reopen_count
    ticket.rework_count = result.rework_count
    ticket.handler_id = result.handler_id
    ticket.updated_at = now
    extra: dict[str, Any] = dict(data or {})

    if action is Action.dispatch:  # dispatched: off the triage desk, whoever decided
        ticket.desk_since = ticket.desk_reason = ticket.desk_community_code = ticket.desk_street_code = None
    if action in _ROUTED:
        target = assignee or choose_assignee(
            session, runtime, grid_code=ticket.grid_code, tier=Tier(ticket.tier), department_code=ticket.department_code
        )
        ticket.assignee_id = target.id if target else None
        extra["assignee"] = target.code if target else None
        _start_clock(session, runtime, ticket, now)
        if action in (Action.escalate, Action.escalate_to_supervisor):
            ticket.escalated_at = now
            extra["from_tier"], extra["to_tier"] = old_tier, ticket.tier
        if action is Action.reroute:
            extra["from_assignee"] = _staff_code(session, old_assignee_id)
    elif action is Action.reject_verification:
        _start_clock(session, runtime, ticket, now, hours=runtime.settings.rework_hours)
        extra["rework"] = ticket.rework_count
    elif action is Action.accept and actor.staff_id is not None:
        ticket.assignee_id = actor.staff_id
    elif action is Action.resolve:
        ticket.resolved_at = now
    elif action in (Action.close, Action.self_close):
        ticket.closed_at = now
    elif action is Action.approve_extension:
        hours = float((data or {}).get("hours") or 8)
        if ticket.due_at is not None:
            ticket.due_at = runtime.calendar.add_working_hours(max(ticket.due_at, now), hours)
            ticket.light = "green"
        extra["hours"] = hours
    elif action is Action.merge and merge_into is not None:
        ticket.merged_into_id = merge_into.id
        extra["into"] = merge_into.number
        _follow(session, merge_into, ticket.reporter_id)
        for pid in followers_of(ticket):
            _follow(session, merge_into, pid)

    event = record_event(
        session,
        ticket,
        actor,
        action.value,
        at=now,
        note=result.event.note,
        data=extra,
        from_status=result.from_status.value,
        to_status=result.to_status.value,
    )
    _notify(session, runtime, ticket, action, event, reason)
    if action is Action.reroute:
        _tell_withdrawn(session, ticket, event, old_assignee_id)
    if action is Action.verify and ticket.contact_withdrawn:
        # The reporter erased their data: nobody is left to rate, so a passed check finishes the ticket.
        apply_action(session, runtime, ticket, Action.close, SYSTEM, reason="反映人已撤回联系方式，核查通过即办结")
    return event


def perform_action(
    session: Session,
    runtime: Runtime,
    number: str,
    action: Action,
    actor: ActorContext,
    *,
    reason: str | None = None,
    assignee_code: str | None = None,
    merge_into: str | None = None,
    data: dict[str, Any] | None = None,
) -> Ticket:
    """Take one action on a ticket by its number (the caller commits)."""
    ticket = load_ticket(session, number, lock=True)
    assignee = None
    if assignee_code:
        assignee = session.scalar(select(Staff).where(Staff.code == assignee_code, Staff.active.is_(True)))
        if assignee is None:
            raise NotFound("error.no_active_staff", staff=assignee_code)
        if action is Action.dispatch:  # the picker's scope, for the API too; an escalation names someone above it
            check_assignee(runtime.city, actor, assignee, ticket)
    target = load_ticket(session, merge_into) if merge_into else None
    if target is not None:
        check_may_touch(actor, target)  # merging into a ticket must not reveal or touch one out of scope
    apply_action(
        session, runtime, ticket, action, actor, reason=reason, assignee=assignee, merge_into=target, data=data
    )
    return ticket


def reassign(
    session: Session, runtime: Runtime, number: str, actor: ActorContext, *, assignee_code: str, note: str | None = None
) -> Ticket:
    """Give a ticket to another staff member (dispatchers and admins), keeping its status."""
    if actor.role not in (Role.community_dispatcher, Role.street_dispatcher, Role.supervisor, Role.admin):
        raise PermissionDenied("error.reassign_not_allowed")
    ticket = load_ticket(session, number, lock=True)
    check_may_touch(actor, ticket)
    staff = session.scalar(select(Staff).where(Staff.code == assignee_code, Staff.active.is_(True)))
    if staff is None:
        raise NotFound("error.no_active_staff", staff=assignee_code)
    check_assignee(runtime.city, actor, staff, ticket)
    previous = ticket.assignee_id
    ticket.assignee_id = staff.id
    event = record_event(
        session, ticket, actor, "reassign", at=runtime.clock.now(), note=note, data={"from": previous, "to": staff.code}
    )
    notify.notify_staff(session, staff=staff, ticket=ticket, kind=NoticeKind.task_new, key="new", event=event)
    return ticket


def comment(session: Session, runtime: Runtime, number: str, actor: ActorContext, *, note: str) -> TicketEvent:
    """Add a note to a ticket's timeline."""
    if not note.strip():
        raise GuardFailed("error.note_required")
    ticket = load_ticket(session, number)
    check_may_touch(actor, ticket, follower_ids=followers_of(ticket))
    return record_event(session, ticket, actor, "comment", at=runtime.clock.now(), note=note.strip()[:2000])


# The words a decision's push picks (bot/render.py: notice.<kind>.<decision>).
_DECISION = {
    Action.approve_extension: "approved",
    Action.refuse_extension: "refused",
    Action.cancel: "cancelled",
    Action.merge: "merged",
}

# Moves after which routing picks the assignee (again) and the clock restarts.
_ROUTED = frozenset({Action.dispatch, Action.escalate, Action.reopen, Action.escalate_to_supervisor, Action.reroute})


def _staff_code(session: Session, staff_id: int | None) -> str | None:
    staff = session.get(Staff, staff_id) if staff_id is not None else None
    return staff.code if staff is not None else None


def _start_clock(
    session: Session, runtime: Runtime, ticket: Ticket, now: datetime, *, hours: float | None = None
) -> None:
    """Restart the SLA clock: the category's time limit, or `hours` working hours when given (重办)."""
    category = category_of(session, runtime, ticket)
    if hours is None and category is None:
        return
    urgent = ticket.priority == "urgent"
    if hours is None and category is not None:
        hours = category.hours_urgent if urgent and category.hours_urgent else category.hours_normal
    assert hours is not None
    ticket.clock_started_at = now
    ticket.due_at = runtime.calendar.due_at(now, hours, urgent=urgent)
    ticket.light = "green"
    ticket.reminded_at = None


def _follow(session: Session, ticket: Ticket, person_id: int | None) -> None:
    if person_id is None or person_id == ticket.reporter_id:
        return
    person = session.get(Person, person_id)
    if person is not None and person not in ticket.followers:
        ticket.followers.append(person)
        session.flush()


# What the ticket's assignee (after the move) hears. A ticket coming back (reopen, 转督办, 核查不通过) is 重办,
# never a new task; a finished extension request tells the handler the decision.
_STAFF_NOTICE: dict[Action, NoticeKind] = {
    Action.dispatch: NoticeKind.task_new,
    Action.reopen: NoticeKind.task_reopened,
    Action.escalate: NoticeKind.task_escalated,
    Action.escalate_to_supervisor: NoticeKind.task_reopened,
    Action.reroute: NoticeKind.task_new,
    Action.reject_verification: NoticeKind.task_rework,
    Action.approve_extension: NoticeKind.extension_decided,
    Action.refuse_extension: NoticeKind.extension_decided,
    Action.cancel: NoticeKind.task_cancelled,
    Action.merge: NoticeKind.task_cancelled,
}


def _notify(
    session: Session, runtime: Runtime, ticket: Ticket, action: Action, event: TicketEvent, reason: str | None
) -> None:
    into = (event.data or {}).get("into")  # a merge: every reporter hears the primary ticket's number
    kind = _RESIDENT_NOTICE.get(action)
    if kind:
        notify.notify_reporters(
            session, ticket=ticket, kind=kind, event=event, note=reason, tier=ticket.tier, into=into
        )
    staff_kind = _STAFF_NOTICE.get(action)
    if staff_kind is not None and ticket.assignee_id is not None:
        assignee = session.get(Staff, ticket.assignee_id)
        if assignee is not None:
            notify.notify_staff(
                session,
                staff=assignee,
                ticket=ticket,
                kind=staff_kind,
                key=staff_kind.value,
                event=event,
                reason=reason,
                rework=ticket.rework_count if action is Action.reject_verification else None,
                decision=_DECISION.get(action),
                into=into,
            )
    if action is Action.escalate_to_supervisor:
        for staff in supervisors_for(session, runtime, ticket):
            notify.notify_staff(
                session,
                staff=staff,
                ticket=ticket,
                kind=NoticeKind.supervise,
                key=f"supervise:{staff.id}",
                event=event,
                reason=reason,
            )
    elif action is Action.resolve:
        verifier = choose_verifier(session, runtime, ticket)
        if verifier is not None:
            notify.notify_staff(
                session, staff=verifier, ticket=ticket, kind=NoticeKind.verify_request, key="verify", event=event
            )
    elif action in (Action.return_, Action.request_extension):
        kind_ = NoticeKind.task_returned if action is Action.return_ else NoticeKind.extension_request
        for staff in dispatchers_for(session, runtime, ticket):
            notify.notify_staff(
                session, staff=staff, ticket=ticket, kind=kind_, key=f"{kind_}:{staff.id}", event=event, reason=reason
            )


def _tell_withdrawn(session: Session, ticket: Ticket, event: TicketEvent, old_assignee_id: int | None) -> None:
    """Tell the previous assignee a re-routed ticket is no longer theirs (unless routing kept them)."""
    if old_assignee_id is None or old_assignee_id == ticket.assignee_id:
        return
    previous = session.get(Staff, old_assignee_id)
    if previous is not None:
        notify.notify_staff(
            session,
            staff=previous,
            ticket=ticket,
            kind=NoticeKind.task_withdrawn,
            key=NoticeKind.task_withdrawn.value,
            event=event,
        )


def facts(session: Session, runtime: Runtime, ticket: Ticket, actor: ActorContext) -> TicketFacts:
    """What the permission rules need to know of this ticket, as seen by this actor."""
    return TicketFacts(
        number=ticket.number,
        state=snapshot(session, runtime, ticket),
        in_scope=can_see(actor, ticket, follower_ids=followers_of(ticket)),
        patrol_find=ticket.source == "patrol",
        assignee_id=ticket.assignee_id,
        reporter_id=ticket.reporter_id,
    )


def acting(actor: ActorContext) -> Acting:
    """The permission rules' view of an actor."""
    return Acting(role=actor.role, person_id=actor.person_id, staff_id=actor.staff_id)


def available_actions(session: Session, runtime: Runtime, ticket: Ticket, actor: ActorContext) -> frozenset[Action]:
    """The moves this actor may make on this ticket now (chat buttons, the API's and dashboard's actions)."""
    return actions_for(facts(session, runtime, ticket, actor), acting(actor))

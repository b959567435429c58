"""The triage desk (分拨台): reports a person must route, who sees them, the one-step decision, the sweep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, and_, false, select, true
from sqlalchemy.orm import Session

from backend.db.models import CategoryCorrection, Staff, Ticket, TicketEvent
from backend.domain.errors import GuardFailed, NotFound, PermissionDenied
from backend.domain.notifications import NoticeKind
from backend.domain.roles import Role
from backend.domain.tickets import Action, TicketStatus
from backend.domain.triage import DeskReason, desk_level
from backend.runtime import Runtime
from backend.services import notify
from backend.services.access import check_may_touch
from backend.services.actors import SYSTEM, ActorContext
from backend.services.audit import place_in_grid, record_event
from backend.services.categories import subcategory
from backend.services.workflow import apply_action, load_ticket

WAITING = (TicketStatus.submitted.value, TicketStatus.returned.value)


@dataclass(frozen=True)
class DeskDecision:
    """What a dispatcher decides in one step: the category (hence department and tier) and the grid."""

    category_code: str
    grid_code: str
    note: str | None = None


def put_on_desk(
    session: Session,
    runtime: Runtime,
    ticket: Ticket,
    reason: DeskReason,
    *,
    home_area: str | None = None,
    actor: ActorContext = SYSTEM,
) -> TicketEvent:
    """Queue a report for a person: its community's desk, else its street's (or the reporter's), else the district's."""
    community = ticket.community_code or runtime.ancestor_at(home_area, "community")
    street = ticket.street_code or runtime.ancestor_at(community or home_area, "street")
    if reason is DeskReason.unowned:
        community = street = None  # the sweep hands it to the district: the lower desks had their chance
    now = runtime.clock.now()
    ticket.desk_since, ticket.desk_reason = now, reason.value
    ticket.desk_community_code, ticket.desk_street_code = community, street
    event = record_event(
        session,
        ticket,
        actor,
        "to_desk",
        at=now,
        note=reason.value,
        data={"level": desk_level(community_code=community, street_code=street), "reason": reason.value},
    )
    for staff in desk_staff(session, ticket):
        notify.notify_staff(
            session,
            staff=staff,
            ticket=ticket,
            kind=NoticeKind.desk_new,
            key=f"desk:{staff.id}",
            event=event,
            reason=reason.value,
        )
    return event


def desk_staff(session: Session, ticket: Ticket) -> list[Staff]:
    """Who is told a report waits at the desk: its community's dispatchers, else its street's, else the admins."""
    if ticket.desk_community_code:
        role, scope = Role.community_dispatcher, ticket.desk_community_code
    elif ticket.desk_street_code:
        role, scope = Role.street_dispatcher, ticket.desk_street_code
    else:
        role, scope = Role.admin, None
    query = select(Staff).where(Staff.role == role.value, Staff.active.is_(True))
    if scope is not None:
        query = query.where(Staff.scope_code == scope)
    return list(session.scalars(query.order_by(Staff.id)))


def on_desk() -> ColumnElement[bool]:
    """Reports waiting at a triage desk."""
    return and_(Ticket.desk_since.is_not(None), Ticket.status.in_(WAITING))


def desk_of(actor: ActorContext) -> ColumnElement[bool]:
    """The desk items this actor may decide on: their community's or street's; the district's for admins."""
    if actor.role in (Role.admin, Role.supervisor):
        return true()
    if actor.role is Role.community_dispatcher:
        return Ticket.desk_community_code == actor.scope_code
    if actor.role is Role.street_dispatcher:
        return Ticket.desk_street_code == actor.scope_code
    return false()


def desk_queue(session: Session, actor: ActorContext, *, limit: int = 200) -> list[Ticket]:
    """The actor's desk, oldest (and urgent) first."""
    return list(
        session.scalars(
            select(Ticket)
            .where(on_desk(), desk_of(actor))
            .order_by((Ticket.priority == "urgent").desc(), Ticket.desk_since, Ticket.id)
            .limit(limit)
        )
    )


def decide(session: Session, runtime: Runtime, number: str, actor: ActorContext, decision: DeskDecision) -> Ticket:
    """Route a desk report in one step: category, department, tier and grid, then dispatch; kept as a correction."""
    ticket = load_ticket(session, number, lock=True)
    check_may_touch(actor, ticket)
    if ticket.desk_since is None or ticket.status not in WAITING:
        raise GuardFailed("error.not_on_desk", number=ticket.number)
    if not _at_desk_of(actor, ticket):
        raise PermissionDenied("error.not_your_desk", number=ticket.number)
    category = subcategory(session, runtime, decision.category_code)
    if category is None:
        raise NotFound("error.unknown_subcategory", category=decision.category_code)
    if runtime.grid_of(decision.grid_code) != decision.grid_code:
        raise NotFound("error.unknown_grid", grid=decision.grid_code)
    if not _within(runtime, actor, decision.grid_code):
        raise PermissionDenied("error.grid_outside_desk", grid=decision.grid_code)
    old_category, now = ticket.category_code, runtime.clock.now()
    ticket.category_code, ticket.category_confidence = category.code, 1.0
    ticket.department_code, ticket.tier = category.department, category.tier
    same_grid = runtime.grid_of(ticket.area_code) == decision.grid_code
    place_in_grid(runtime, ticket, grid_code=decision.grid_code, area_code=ticket.area_code if same_grid else None)
    session.add(
        CategoryCorrection(
            ticket_id=ticket.id,
            text=ticket.text,
            old_category=old_category,
            new_category=category.code,
            corrected_by=actor.person_id,
            created_at=now,
        )
    )
    record_event(
        session,
        ticket,
        actor,
        "triage",
        at=now,
        note=decision.note,
        data={
            "reason": ticket.desk_reason,
            "from_category": old_category,
            "category": category.code,
            "department": category.department,
            "grid": decision.grid_code,
            "waited_s": round((now - ticket.desk_since).total_seconds()),
        },
    )
    apply_action(session, runtime, ticket, Action.dispatch, actor, reason="分拨台派单")
    return ticket


def sweep_unowned(session: Session, runtime: Runtime, *, batch: int = 500) -> int:
    """Put every report neither dispatched nor on a desk for longer than the limit on the district desk."""
    cutoff = runtime.clock.now() - timedelta(seconds=runtime.settings.unowned_sweep_seconds)
    stray = session.scalars(
        select(Ticket)
        .where(
            Ticket.status == TicketStatus.submitted.value,  # a returned one is with its dispatchers already
            Ticket.desk_since.is_(None),
            Ticket.created_at <= cutoff,
        )
        .order_by(Ticket.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    for ticket in stray:
        put_on_desk(session, runtime, ticket, DeskReason.unowned)
    return len(stray)


def grids_for(runtime: Runtime, actor: ActorContext) -> list[str]:
    """The grids a dispatcher may route a desk report to: those of their area; every grid for admins."""
    return [
        a.code
        for a in sorted(runtime.city.areas.values(), key=lambda a: a.code)
        if a.level in ("grid", "special") and _within(runtime, actor, a.code)
    ]


def suggestions(ticket: Ticket) -> list[str]:
    """The categories to offer first: the classifier's top three for this report, best first."""
    submit = next((e for e in ticket.events if e.action == "submit"), None)
    top3 = [str(code) for code, _ in (submit.data or {}).get("top3", [])] if submit is not None else []
    return list(dict.fromkeys([*([ticket.category_code] if ticket.category_code else []), *top3]))


def may_decide(actor: ActorContext, ticket: Ticket) -> bool:
    """True when the report waits at this actor's desk."""
    return ticket.desk_since is not None and ticket.status in WAITING and _at_desk_of(actor, ticket)


def _within(runtime: Runtime, actor: ActorContext, grid_code: str) -> bool:
    if actor.role in (Role.admin, Role.supervisor):
        return True
    level = {Role.community_dispatcher: "community", Role.street_dispatcher: "street"}.get(actor.role)
    return level is not None and runtime.ancestor_at(grid_code, level) == actor.scope_code


def _at_desk_of(actor: ActorContext, ticket: Ticket) -> bool:
    """The same rule as desk_of, for one loaded ticket."""
    if actor.role in (Role.admin, Role.supervisor):
        return True
    desk = {Role.community_dispatcher: ticket.desk_community_code, Role.street_dispatcher: ticket.desk_street_code}
    return actor.scope_code is not None and desk.get(actor.role) == actor.scope_code

"""Category corrections by dispatchers: re-route the ticket and keep the correction for retraining.

The category decides the department and the tier, so a correction of a ticket someone holds
(dispatched, accepted, in progress) whose department or tier changes re-runs routing through the
`reroute` move: a new assignee and clock, the old assignee told it was withdrawn. A ticket not yet
dispatched (submitted, returned) takes the new tier and department when it is dispatched; a held one
(suspended, extension requested) keeps its holder and is re-routed by hand if needed.
"""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import CategoryCorrection
from backend.domain.errors import NotFound, PermissionDenied
from backend.domain.roles import Role
from backend.domain.tickets import TRANSITIONS, Action, TicketStatus
from backend.runtime import Runtime
from backend.services.access import check_may_touch
from backend.services.actors import ActorContext
from backend.services.audit import record_event
from backend.services.categories import subcategory
from backend.services.workflow import apply_action, load_ticket

CORRECTORS = (Role.community_dispatcher, Role.street_dispatcher, Role.supervisor, Role.admin)
REROUTABLE = frozenset(status for (status, action) in TRANSITIONS if action is Action.reroute)


def correct_category(
    session: Session, runtime: Runtime, number: str, actor: ActorContext, *, category_code: str
) -> CategoryCorrection:
    """Set a ticket's category, re-derive department and tier, and record the correction (the caller commits)."""
    if actor.role not in CORRECTORS:
        raise PermissionDenied("error.correct_category_not_allowed")
    ticket = load_ticket(session, number, lock=True)
    check_may_touch(actor, ticket)
    category = subcategory(session, runtime, category_code)
    if category is None:
        raise NotFound("error.unknown_subcategory", category=category_code)
    old, old_department, old_tier = ticket.category_code, ticket.department_code, ticket.tier
    reroutes = TicketStatus(ticket.status) in REROUTABLE
    ticket.category_code = category.code
    ticket.category_confidence = 1.0
    ticket.department_code = category.department
    if ticket.status in ("submitted", "returned", *REROUTABLE):
        ticket.tier = category.tier
    correction = CategoryCorrection(
        ticket_id=ticket.id,
        text=ticket.text,
        old_category=old,
        new_category=category.code,
        corrected_by=actor.person_id,
        created_at=runtime.clock.now(),
    )
    session.add(correction)
    record_event(
        session,
        ticket,
        actor,
        "correct_category",
        at=runtime.clock.now(),
        note=f"{old} → {category.code}",
        data={
            "from": old,
            "to": category.code,
            "from_department": old_department,
            "to_department": ticket.department_code,
            "from_tier": old_tier,
            "to_tier": ticket.tier,
        },
    )
    if reroutes and (ticket.department_code, ticket.tier) != (old_department, old_tier):
        apply_action(session, runtime, ticket, Action.reroute, actor, reason=f"分类更正：{old} → {category.code}")
    return correction


def export_corrections(session: Session, path: Path) -> int:
    """Write every correction as a training CSV (label,text); returns the row count."""
    rows = session.execute(
        select(CategoryCorrection.new_category, CategoryCorrection.text).order_by(CategoryCorrection.id)
    ).all()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", "text"])
        writer.writerows(rows)
    return len(rows)

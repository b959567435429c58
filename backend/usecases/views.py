"""Plain read-only views that use cases return: what a caller outside backend/ may know of a row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.db.models import Person, Staff, Ticket
from backend.services.reveal import masked


@dataclass(frozen=True)
class StaffView:
    """A staff member as a dialogue sees them."""

    id: int
    code: str
    role: str
    scope_code: str | None
    name: str

    @classmethod
    def of(cls, staff: Staff) -> StaffView:
        """The view of a staff row."""
        return cls(id=staff.id, code=staff.code, role=staff.role, scope_code=staff.scope_code, name=staff.person.name)


@dataclass(frozen=True)
class Speaker:
    """Who sent a chat message: a resident, or a staff member speaking for their role."""

    person_id: int
    name: str
    home_area_code: str | None
    home_text: str | None
    staff: StaffView | None

    @classmethod
    def of(cls, person: Person) -> Speaker:
        """The view of a person (staff when they hold an active staff record)."""
        staff = person.staff if person.staff is not None and person.staff.active else None
        return cls(
            person_id=person.id,
            name=person.name,
            home_area_code=person.home_area_code,
            home_text=person.home_text,
            staff=StaffView.of(staff) if staff is not None else None,
        )


@dataclass(frozen=True)
class EventView:
    """One line of a ticket's audit trail."""

    at: datetime
    action: str
    actor_role: str
    note: str | None


@dataclass(frozen=True)
class TicketView:
    """A ticket as the speaker may see it."""

    number: str
    status: str
    text: str
    source: str
    priority: str
    category_code: str | None
    location_text: str | None
    area_code: str | None
    grid_code: str | None
    tier: str
    light: str
    due_at: datetime | None
    reported_by_speaker: bool
    assigned_to_speaker: bool
    merged_into: str | None
    rated_since_resolution: bool  # by the speaker, since the last resolution
    events: tuple[EventView, ...]
    on_desk: bool = False  # waiting at a triage desk for a person to route it

    @classmethod
    def of(cls, ticket: Ticket, speaker: Speaker, *, merged_into: str | None = None) -> TicketView:
        """The view of a ticket row for this speaker."""
        since = ticket.resolved_at or ticket.created_at
        staff_id = speaker.staff.id if speaker.staff is not None else None
        # Staff read phone, ID and house numbers masked; revealing them is an audited action (casework.reveal).
        shown = (lambda text: text) if speaker.staff is None else masked
        return cls(
            number=ticket.number,
            status=ticket.status,
            text=shown(ticket.text) or "",
            source=ticket.source,
            priority=ticket.priority,
            category_code=ticket.category_code,
            location_text=shown(ticket.location_text),
            area_code=ticket.area_code,
            grid_code=ticket.grid_code,
            tier=ticket.tier,
            light=ticket.light,
            due_at=ticket.due_at,
            reported_by_speaker=ticket.reporter_id == speaker.person_id,
            assigned_to_speaker=staff_id is not None and ticket.assignee_id == staff_id,
            merged_into=merged_into,
            rated_since_resolution=any(
                r.person_id == speaker.person_id and r.created_at >= since for r in ticket.ratings
            ),
            events=tuple(EventView(ev.at, ev.action, ev.actor_role, shown(ev.note)) for ev in ticket.events),
            on_desk=ticket.desk_since is not None,
        )

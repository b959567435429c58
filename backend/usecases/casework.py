"""The use cases a chat dialogue calls, bound to one turn: report, follow up, rate, work a task, patrol.

Each call that may be refused (a DomainError) after its first write is a savepoint in the turn's transaction:
it is taken back alone and the rest of the turn still commits. Calls return views, never rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from backend.db.fixed_sets import in_fixed
from backend.db.models import Person, Staff, Ticket, TicketEvent
from backend.domain.errors import GuardFailed, NotFound, PermissionDenied
from backend.domain.roles import Role
from backend.domain.tickets import OPEN_STATUSES, Action, TicketStatus
from backend.runtime import Runtime
from backend.services import alarms, desk, public_report
from backend.services.access import can_see, visible_tickets
from backend.services.actors import ActorContext
from backend.services.assignment import pending_verifications
from backend.services.attachments import accept_photo, store_photo
from backend.services.binding import redeem
from backend.services.data_export import PersonalData, personal_data
from backend.services.digest import digest_counts
from backend.services.erasure import ErasureSummary, erase_resident
from backend.services.feedback import rate
from backend.services.intake import (
    Assessment,
    Duplicate,
    Placement,
    ReportIn,
    assess,
    create_ticket,
    likely_duplicate,
    locate,
)
from backend.services.placement import place_ticket
from backend.services.privacy_log import record_access
from backend.services.reveal import Contact, may_reveal_ticket, reveal_contact
from backend.services.revision import revise_report
from backend.services.workflow import apply_action, available_actions, followers_of, load_ticket
from backend.usecases.own_notices import OwnNotices
from backend.usecases.views import Speaker, StaffView, TicketView
from nlp.intents import Intent, intent_of

LIGHT_ORDER = {"red": 0, "yellow": 1, "green": 2}


@dataclass(frozen=True)
class StashedPhoto:
    """A photo kept for a report to come: its stored name and where it was taken, if it said."""

    name: str
    lon: float | None
    lat: float | None


class Casework:
    """The backend as one chat turn sees it: use cases on behalf of the speaker."""

    def __init__(self, session: Session, runtime: Runtime, speaker: Speaker, *, channel: str, user_id: str) -> None:
        self._session = session
        self._runtime = runtime
        self.speaker = speaker
        self.channel = channel
        self._user_id = user_id
        self._own_notices = OwnNotices(session, channel=channel, external_id=user_id)
        staff = speaker.staff
        self._actor = (
            ActorContext(role=Role.resident, person_id=speaker.person_id, name=speaker.name)
            if staff is None
            else ActorContext(
                role=Role(staff.role),
                person_id=speaker.person_id,
                staff_id=staff.id,
                scope_code=staff.scope_code,
                name=speaker.name,
            )
        )

    # -- analysing a message -------------------------------------------------------------------------------

    def assess(self, text: str, *, lon: float | None = None, lat: float | None = None) -> Assessment:
        """Classify, place and check the urgency of a message once; the speaker's home is the last resort."""
        return assess(self._runtime, text, lon=lon, lat=lat, home_area=self.speaker.home_area_code)

    def intent_of(self, text: str) -> Intent | None:
        """What a message that names no problem (你好, 谢谢, 满意, 处理了吗) asks for; None when it may name one."""
        return intent_of(text)

    def awaiting_rating(self) -> TicketView | None:
        """The speaker's own ticket that waits for their rating (verified on site), the latest if several."""
        ticket = self._session.scalars(
            select(Ticket)
            .where(Ticket.reporter_id == self.speaker.person_id, Ticket.status == TicketStatus.verified.value)
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
            .limit(1)
        ).first()
        return self._view(ticket) if ticket is not None else None

    def locate(
        self,
        *,
        text: str | None = None,
        lon: float | None = None,
        lat: float | None = None,
        area_code: str | None = None,
    ) -> Placement:
        """Where a pin, a picked area or a typed place is (no home fallback: the speaker said where)."""
        return locate(self._runtime, text=text, lon=lon, lat=lat, area_code=area_code)

    def duplicate_of(self, assessment: Assessment) -> Duplicate | None:
        """The open ticket this report most likely repeats, if any."""
        return likely_duplicate(
            self._session,
            self._runtime,
            text=assessment.text,
            grid_code=assessment.place.grid_code,
            category_code=assessment.category_code,
        )

    # -- reporting -----------------------------------------------------------------------------------------

    def stash_photo(self, data: bytes) -> StashedPhoto:
        """Keep a photo sent before its report exists, without its metadata; raises GuardFailed.

        The position the photo was taken at (its EXIF GPS), if any, comes back for the report's pin.
        """
        settings = self._runtime.settings
        name, _, photo = accept_photo(data, upload_dir=settings.upload_dir, max_bytes=settings.upload_max_bytes)
        return StashedPhoto(name=name, lon=photo.lon, lat=photo.lat)

    def report(
        self,
        assessment: Assessment,
        *,
        lon: float | None = None,
        lat: float | None = None,
        location_text: str | None = None,
        photos: list[str] | tuple[str, ...] = (),
        merge_into: str | None = None,
        urgent: bool | None = None,
        source: str = "resident",
    ) -> TicketView:
        """Store a report as a ticket (routed and dispatched when it can be), with its photos; optionally merged."""
        report = ReportIn(
            text=assessment.text,
            channel=self.channel,
            reporter_id=self.speaker.person_id,
            lon=lon,
            lat=lat,
            location_text=location_text,
            urgent=urgent,
            source=source,
        )
        if not photos and not merge_into:
            # create_ticket refuses only before its first write, so a refusal leaves nothing to take back and the
            # commonest call of a busy inbox batch spares a savepoint's two round trips.
            return self._view(self._add_report(report, assessment, dispatch=True))
        with self._session.begin_nested():  # a photo or the merge may still be refused after the ticket is added
            ticket = self._add_report(report, assessment, dispatch=merge_into is None)
            for name in photos:
                path = self._runtime.settings.upload_dir / name
                if path.exists():
                    self._store_photo(ticket, path.read_bytes(), stage="report")
            if merge_into:
                primary = load_ticket(self._session, merge_into)
                apply_action(
                    self._session,
                    self._runtime,
                    ticket,
                    Action.merge,
                    self._actor,
                    merge_into=primary,
                    reason="反映人同意合并跟进",
                )
        return self._view(ticket)

    def _add_report(self, report: ReportIn, assessment: Assessment, *, dispatch: bool) -> Ticket:
        return create_ticket(
            self._session, self._runtime, report, assessment=assessment, actor=self._actor, dispatch=dispatch
        )

    def place_urgent(
        self, number: str, *, lon: float | None = None, lat: float | None = None, label: str | None = None
    ) -> TicketView | None:
        """Give an urgent ticket sent without a place its place and dispatch it; None if the place is unknown."""
        with self._session.begin_nested():
            ticket = load_ticket(self._session, number, lock=True)
            placed = place_ticket(
                self._session, self._runtime, ticket, self._actor, lon=lon, lat=lat, location_text=label
            )
        return self._view(ticket) if placed else None

    # -- following up --------------------------------------------------------------------------------------

    def ticket(self, number: str) -> TicketView | None:
        """A ticket the speaker may see, or None."""
        ticket = self._visible(number)
        return self._view(ticket) if ticket is not None else None

    def my_tickets(self, limit: int) -> list[TicketView]:
        """The speaker's latest tickets (reported or followed)."""
        rows = self._session.scalars(
            select(Ticket)
            .where(visible_tickets(self._actor))
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(limit)
        ).all()
        return [self._view(t) for t in rows]

    def cancel(self, number: str) -> TicketView:
        """Withdraw the speaker's own report while nobody has taken it on. Raises DomainError."""
        with self._session.begin_nested():
            ticket = load_ticket(self._session, number, lock=True)
            apply_action(self._session, self._runtime, ticket, Action.cancel, self._actor, reason="反映人撤回")
        return self._view(ticket)

    def comment(self, number: str, note: str) -> None:
        """A resident's note on their own ticket's timeline. Raises DomainError."""
        with self._session.begin_nested():
            ticket = load_ticket(self._session, number)
            if ticket.reporter_id != self.speaker.person_id:
                raise PermissionDenied("error.only_reporter_may_add")
            self._session.add(
                TicketEvent(
                    ticket=ticket,
                    at=self._runtime.clock.now(),
                    actor_id=self.speaker.person_id,
                    actor_role=Role.resident.value,
                    action="comment",
                    from_status=ticket.status,
                    to_status=ticket.status,
                    note=note[:2000],
                )
            )

    def revise(self, number: str, text: str) -> TicketView:
        """The speaker's edited words for their report still waiting at a desk. Raises DomainError."""
        with self._session.begin_nested():
            ticket = revise_report(self._session, self._runtime, number, text, actor=self._actor)
        return self._view(ticket)

    def add_photo(self, number: str, data: bytes, *, stage: str = "report") -> None:
        """Store a photo on a ticket. Raises DomainError (not found, too large, not an image)."""
        with self._session.begin_nested():
            ticket = load_ticket(self._session, number)
            self._store_photo(ticket, data, stage=stage)

    def rate(self, number: str, score: str, comment: str | None) -> TicketView:
        """Record the reporter's rating (a dissatisfied one may reopen the ticket). Raises DomainError."""
        with self._session.begin_nested():
            ticket = rate(self._session, self._runtime, number, self._actor, score=score, comment=comment)
        self._session.expire(ticket, ["events"])  # the move it caused is the last line of the trail
        return self._view(ticket)

    def set_home(self, place: Placement, text: str) -> str:
        """Bind the speaker's home address to a placed area; the stored wording."""
        if place.grid_code is None or place.area_code is None:
            raise GuardFailed("error.address_without_grid")
        person = self._session.get(Person, self.speaker.person_id)
        if person is None:
            raise NotFound("error.reporter_not_found")
        person.home_area_code = place.area_code
        person.home_text = text[:300]
        self._session.flush()
        return person.home_text

    # -- the speaker's personal data -----------------------------------------------------------------------

    def my_data(self) -> PersonalData:
        """What is stored about the speaker (their copy); the export is logged."""
        with self._session.begin_nested():
            record_access(
                self._session,
                action="export",
                actor=self._actor,
                at=self._runtime.clock.now(),
                reason="chat",
                subject_id=self.speaker.person_id,
            )
        return personal_data(self._session, self.speaker.person_id)

    def erase_me(self) -> ErasureSummary:
        """Erase the speaker's personal data (they asked and confirmed). Raises DomainError."""
        with self._session.begin_nested():
            return erase_resident(
                self._session, self._runtime, self.speaker.person_id, actor=self._actor, reason="chat"
            )

    # -- 向群众汇报 --------------------------------------------------------------------------------------------

    def subscribe_report(self) -> tuple[str, str]:
        """Subscribe the speaker to their area's weekly public report in this channel; (area name, page URL)."""
        code = public_report.subscribe(self._session, self._runtime, self.speaker.person_id, self.channel)
        url = f"{self._runtime.settings.public_url.rstrip('/')}/public/reports/{code}"
        return self._runtime.city.areas[code].name, url

    def unsubscribe_report(self) -> bool:
        """Stop the speaker's weekly public report; whether they had one."""
        return public_report.unsubscribe(self._session, self.speaker.person_id)

    def may_reveal(self, number: str) -> bool:
        """Whether the speaker (staff) may reveal this ticket's masked contact details now."""
        ticket = self._visible(number)
        return ticket is not None and may_reveal_ticket(self._actor, ticket)

    def reveal(self, number: str, reason: str) -> Contact:
        """The ticket's unmasked contact details, recorded in the privacy log. Raises DomainError."""
        with self._session.begin_nested():
            return reveal_contact(self._session, self._runtime, number, self._actor, reason=reason)

    # -- staff work ----------------------------------------------------------------------------------------

    def bind_staff(self, code: str) -> StaffView:
        """Bind this chat account to the staff member of a one-time code. Raises DomainError."""
        with self._session.begin_nested():
            staff = redeem(self._session, self.channel, self._user_id, code, self._runtime.clock.now())
        return StaffView.of(staff)

    def my_tasks(self, limit: int) -> list[TicketView]:
        """The staff member's open tasks, red first, then yellow, then green, soonest due first; then the
        resolved tickets waiting for their check (巡办分离)."""
        staff = self._staff
        order = case(LIGHT_ORDER, value=Ticket.light, else_=3)
        rows = list(
            self._session.scalars(
                select(Ticket)
                .where(Ticket.assignee_id == staff.id, in_fixed(Ticket.status, OPEN_STATUSES))
                .order_by(order, Ticket.due_at.is_(None), Ticket.due_at, Ticket.id)
                .limit(limit)
            )
        )
        checks = pending_verifications(self._session, self._runtime, staff, limit=limit)
        rows += [t for t in checks if t not in rows]
        return [self._view(t) for t in rows[:limit]]

    def task(self, number: str) -> tuple[TicketView, frozenset[Action]] | None:
        """A ticket the staff member may see, with the moves they may make on it now; None if not visible."""
        ticket = self._visible(number)
        if ticket is None:
            return None
        return self._view(ticket), available_actions(self._session, self._runtime, ticket, self._actor)

    def act(self, number: str, action: Action, *, reason: str | None = None) -> tuple[TicketView, frozenset[Action]]:
        """Make one move on a ticket; the ticket after it and the moves open next. Raises DomainError."""
        with self._session.begin_nested():
            ticket = load_ticket(self._session, number, lock=True)
            apply_action(self._session, self._runtime, ticket, action, self._actor, reason=reason)
        return self._view(ticket), available_actions(self._session, self._runtime, ticket, self._actor)

    def desk_choices(self, number: str) -> tuple[TicketView, list[str], list[str]] | None:
        """A report at the speaker's triage desk with the categories to offer and the grids they may pick; else None."""
        ticket = self._visible(number)
        if ticket is None or not desk.may_decide(self._actor, ticket):
            return None
        return self._view(ticket), desk.suggestions(ticket), desk.grids_for(self._runtime, self._actor)

    def desk_decide(self, number: str, category_code: str, grid_code: str) -> TicketView:
        """Route a report from the speaker's triage desk in one step; it is dispatched. Raises DomainError."""
        with self._session.begin_nested():
            ticket = desk.decide(
                self._session, self._runtime, number, self._actor, desk.DeskDecision(category_code, grid_code)
            )
        return self._view(ticket)

    def acknowledge_alarm(self, number: str) -> None:
        """Record that the speaker has an urgent report in hand (its alarm stops climbing). Raises DomainError."""
        with self._session.begin_nested():
            alarms.acknowledge(self._session, self._runtime, number, self._actor)

    def patrol_report(
        self,
        assessment: Assessment,
        category_code: str,
        *,
        lon: float | None = None,
        lat: float | None = None,
        label: str | None = None,
        photos: list[str] | tuple[str, ...] = (),
    ) -> TicketView:
        """A finding of the speaker's patrol, in their grid unless they dropped a pin."""
        staff = self._staff
        in_own_grid = staff.role == Role.gridworker.value and lon is None
        place = self.locate(area_code=staff.scope_code) if in_own_grid else assessment.place
        return self.report(
            assessment.with_category(category_code).with_place(place),
            lon=lon,
            lat=lat,
            location_text=label,
            photos=photos,
            source="patrol",
        )

    def may_self_close(self, number: str) -> bool:
        """Whether the speaker may close this ticket themselves (自办自结) now."""
        found = self.task(number)
        return found is not None and Action.self_close in found[1]

    def digest(self) -> dict[str, Any]:
        """The staff member's figures for the daily digest."""
        return digest_counts(self._session, self._staff, self._runtime.clock.now())

    # -- helpers -------------------------------------------------------------------------------------------

    @property
    def _staff(self) -> Staff:
        if self.speaker.staff is None:
            raise PermissionDenied("error.staff_only")
        staff = self._session.get(Staff, self.speaker.staff.id)
        assert staff is not None
        return staff

    def _visible(self, number: str) -> Ticket | None:
        try:
            ticket = load_ticket(self._session, number)
        except NotFound:
            return None
        if not can_see(self._actor, ticket, follower_ids=followers_of(ticket)):
            return None
        return ticket

    def _store_photo(self, ticket: Ticket, data: bytes, *, stage: str) -> None:
        settings = self._runtime.settings
        store_photo(
            self._session,
            upload_dir=settings.upload_dir,
            ticket=ticket,
            data=data,
            stage=stage,
            uploaded_by=self.speaker.person_id,
            max_bytes=settings.upload_max_bytes,
        )

    def _view(self, ticket: Ticket) -> TicketView:
        merged_into = None
        if ticket.merged_into_id is not None:
            primary = self._session.get(Ticket, ticket.merged_into_id)
            merged_into = primary.number if primary is not None else None
        return TicketView.of(ticket, self.speaker, merged_into=merged_into)

    # -- notices this turn made for its own speaker ----------------------------------------------------------

    def take_own_notices(self) -> list[tuple[str, dict[str, Any]]]:
        """Notices this turn queued for the speaker on this channel, taken out of the outbox: (kind, payload).

        The turn's answer carries them after its own replies, so the resident reads the confirmation with
        the ticket number before "dispatched", whatever order the outbox would have sent them in.
        """
        return [(row.kind, dict(row.payload or {})) for row in self._own_notices.take()]

    def close(self) -> None:
        """Stop noting the speaker's notices: the next turn of an inbox batch shares the session."""
        self._own_notices.close()

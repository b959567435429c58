"""Tickets for staff: list and filter, read with timeline, act, reassign, comment, photos."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, UploadFile, status
from fastapi.responses import FileResponse
from sqlalchemy import select

from backend.api.deps import CurrentStaff, RuntimeDep, SessionDep
from backend.api.schemas import (
    ActionIn,
    AttachmentPublic,
    CategoryIn,
    CommentIn,
    EventPublic,
    RatingPublic,
    ReassignIn,
    TicketCreate,
    TicketDetail,
    TicketPage,
    TicketPublic,
)
from backend.db.models import Attachment, Staff, Ticket
from backend.domain.roles import Role
from backend.domain.tickets import Action
from backend.services import attachments as photos
from backend.services.access import check_may_touch
from backend.services.corrections import correct_category
from backend.services.intake import ReportIn, create_ticket
from backend.services.queries import TicketFilter, list_tickets
from backend.services.reveal import masked
from backend.services.workflow import (
    available_actions,
    comment,
    followers_of,
    load_ticket,
    perform_action,
    reassign,
)

router = APIRouter(prefix="/api/tickets", tags=["tickets"])
StageQuery = Annotated[str, Query(pattern="^(report|on_site|resolved|verify)$")]


def to_public(ticket: Ticket, codes: dict[int, str]) -> TicketPublic:
    """A ticket row as the API shows it."""
    data = TicketPublic.model_validate(ticket)
    # Masked by default; POST /api/tickets/{number}/reveal shows them in full to those who need it (audited).
    data.text, data.location_text = masked(ticket.text) or "", masked(ticket.location_text)
    data.assignee = codes.get(ticket.assignee_id) if ticket.assignee_id else None
    return data


def staff_codes(session: SessionDep, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {sid: code for sid, code in session.execute(select(Staff.id, Staff.code).where(Staff.id.in_(ids)))}


@router.get("", response_model=TicketPage)
def list_(
    session: SessionDep,
    actor: CurrentStaff,
    status_: Annotated[list[str] | None, Query(alias="status")] = None,
    light: Annotated[list[str] | None, Query()] = None,
    category: str | None = None,
    grid: str | None = None,
    department: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> TicketPage:
    """Tickets in your scope, newest first, filtered by status, light, category, grid, department, dates."""
    flt = TicketFilter(
        status=status_,
        light=light,
        category=category,
        grid=grid,
        department=department,
        created_from=created_from,
        created_to=created_to,
        q=q,
    )
    rows, more = list_tickets(session, actor, flt, limit=limit, offset=offset)
    codes = staff_codes(session, {t.assignee_id for t in rows if t.assignee_id})
    return TicketPage(items=[to_public(t, codes) for t in rows], limit=limit, offset=offset, has_more=more)


@router.post("", response_model=TicketPublic, status_code=status.HTTP_201_CREATED)
def create(ticket_in: TicketCreate, session: SessionDep, runtime: RuntimeDep, actor: CurrentStaff) -> TicketPublic:
    """Register a report taken by staff (a hotline call, a walk-in, a patrol finding)."""
    ticket = create_ticket(
        session,
        runtime,
        ReportIn(
            text=ticket_in.text,
            channel=ticket_in.channel,
            lon=ticket_in.lon,
            lat=ticket_in.lat,
            location_text=ticket_in.location_text,
            area_code=ticket_in.area_code,
            category_code=ticket_in.category_code,
            urgent=ticket_in.urgent,
            source="patrol" if ticket_in.channel == "patrol" else "staff",
        ),
        actor=actor,
    )
    session.commit()
    return to_public(ticket, staff_codes(session, {ticket.assignee_id} if ticket.assignee_id else set()))


@router.get("/{number}", response_model=TicketDetail)
def read(number: str, session: SessionDep, runtime: RuntimeDep, actor: CurrentStaff) -> TicketDetail:
    """One ticket with its timeline, photos, ratings and the actions you may take."""
    ticket = load_ticket(session, number)
    check_may_touch(actor, ticket)
    codes = staff_codes(session, {ticket.assignee_id} if ticket.assignee_id else set())
    base = to_public(ticket, codes).model_dump()
    actions = sorted(a.value for a in available_actions(session, runtime, ticket, actor))
    return TicketDetail(
        **base,
        timeline=[EventPublic.model_validate(e) for e in ticket.events],
        attachments=[AttachmentPublic.model_validate(a) for a in ticket.attachments],
        ratings=[RatingPublic.model_validate(r) for r in ticket.ratings],
        allowed_actions=actions,
        reopen_count=ticket.reopen_count,
    )


@router.post("/{number}/actions/{action}", response_model=TicketPublic)
def act(
    number: str, action: Action, body: ActionIn, session: SessionDep, runtime: RuntimeDep, actor: CurrentStaff
) -> TicketPublic:
    """Take one state-machine action (dispatch, accept, start, resolve, verify, escalate …)."""
    data = {"hours": body.hours} if body.hours else None
    ticket = perform_action(
        session,
        runtime,
        number,
        action,
        actor,
        reason=body.reason,
        assignee_code=body.assignee_code,
        merge_into=body.merge_into,
        data=data,
    )
    session.commit()
    return to_public(ticket, staff_codes(session, {ticket.assignee_id} if ticket.assignee_id else set()))


@router.post("/{number}/reassign", response_model=TicketPublic)
def reassign_(
    number: str, body: ReassignIn, session: SessionDep, runtime: RuntimeDep, actor: CurrentStaff
) -> TicketPublic:
    """Give the ticket to another staff member."""
    ticket = reassign(session, runtime, number, actor, assignee_code=body.assignee_code, note=body.note)
    session.commit()
    return to_public(ticket, staff_codes(session, {ticket.assignee_id} if ticket.assignee_id else set()))


@router.post("/{number}/comments", response_model=EventPublic, status_code=status.HTTP_201_CREATED)
def comment_(
    number: str, body: CommentIn, session: SessionDep, runtime: RuntimeDep, actor: CurrentStaff
) -> EventPublic:
    """Add a note to the timeline."""
    event = comment(session, runtime, number, actor, note=body.note)
    session.commit()
    return EventPublic.model_validate(event)


@router.post("/{number}/category", response_model=TicketPublic)
def correct(
    number: str, body: CategoryIn, session: SessionDep, runtime: RuntimeDep, actor: CurrentStaff
) -> TicketPublic:
    """Correct the category; the correction is kept for retraining."""
    correct_category(session, runtime, number, actor, category_code=body.category_code)
    session.commit()
    ticket = load_ticket(session, number)
    return to_public(ticket, staff_codes(session, {ticket.assignee_id} if ticket.assignee_id else set()))


@router.post("/{number}/photos", response_model=AttachmentPublic, status_code=status.HTTP_201_CREATED)
async def upload(
    number: str,
    file: UploadFile,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: CurrentStaff,
    stage: StageQuery = "resolved",
) -> AttachmentPublic:
    """Attach a photo (JPEG/PNG/WebP/GIF, size limited; the type is sniffed from the bytes)."""
    limit = runtime.settings.upload_max_bytes
    data = await file.read(limit + 1)
    ticket = load_ticket(session, number)
    check_may_touch(actor, ticket, follower_ids=followers_of(ticket))
    att = photos.store_photo(
        session,
        upload_dir=runtime.settings.upload_dir,
        ticket=ticket,
        data=data,
        stage=stage,
        uploaded_by=actor.person_id,
        max_bytes=limit,
    )
    session.commit()
    return AttachmentPublic.model_validate(att)


@router.get("/{number}/photos/{photo_id}")
def download(
    number: str,
    photo_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: SessionDep,
    runtime: RuntimeDep,
    actor: CurrentStaff,
) -> FileResponse:
    """Download one of the ticket's photos."""
    ticket = load_ticket(session, number)
    check_may_touch(actor, ticket)
    att = session.get(Attachment, photo_id)
    if att is None or att.ticket_id != ticket.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "照片不存在")
    # Served as the sniffed image type, never rendered inline as anything else.
    return FileResponse(
        runtime.settings.upload_dir / att.path,
        media_type=att.content_type,
        headers={"X-Content-Type-Options": "nosniff"},
        content_disposition_type="attachment",
        filename=att.path,
    )


__all__ = ["router", "to_public", "Role"]

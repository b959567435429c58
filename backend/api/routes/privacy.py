"""Personal data over the API: reveal a ticket's masked contact details (audited), the privacy log for
admins and supervisors, and an admin's erasure of a resident who asked by phone or at a counter."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, Field, model_validator

from backend.api.deps import CurrentStaff, RuntimeDep, SessionDep
from backend.domain.privacy import AUDIT_ROLES, ERASE_ROLES
from backend.services.erasure import erase_resident, resident_by_contact
from backend.services.privacy_log import access_log
from backend.services.reveal import reveal_contact

router = APIRouter(prefix="/api", tags=["privacy"])
Number = Annotated[str, Path(max_length=32)]


class RevealIn(BaseModel):
    """Why the full contact details are needed (recorded with who and when)."""

    reason: str = Field(min_length=1, max_length=500)


class ContactPublic(BaseModel):
    """A ticket's unmasked report text and place, and the reporter's phone and home if known."""

    text: str
    location_text: str | None
    phone: str | None
    home: str | None


class AccessPublic(BaseModel):
    """One line of the privacy log."""

    at: datetime
    action: str
    actor_code: str
    actor_name: str
    actor_role: str
    ticket_number: str | None
    reason: str


class EraseIn(BaseModel):
    """The resident to erase (by their phone or a ticket they reported) and the reason (how they asked)."""

    phone: str | None = Field(default=None, min_length=5, max_length=32)
    ticket_number: str | None = Field(default=None, min_length=5, max_length=32)
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _one_way_to_find_them(self) -> EraseIn:
        if (self.phone is None) == (self.ticket_number is None):
            raise ValueError("give either phone or ticket_number")
        return self


class ErasedPublic(BaseModel):
    """What the erasure did."""

    open_tickets: int
    finished_tickets: int


@router.post("/tickets/{number}/reveal", response_model=ContactPublic)
def reveal(
    number: Number, body: RevealIn, session: SessionDep, runtime: RuntimeDep, actor: CurrentStaff
) -> ContactPublic:
    """The ticket's unmasked contact details, for staff who need them (recorded in the privacy log)."""
    contact = reveal_contact(session, runtime, number, actor, reason=body.reason)
    session.commit()
    return ContactPublic(text=contact.text, location_text=contact.location_text, phone=contact.phone, home=contact.home)


@router.get("/admin/privacy-log", response_model=list[AccessPublic])
def privacy_log(
    session: SessionDep,
    actor: CurrentStaff,
    limit: int = Query(200, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> list[AccessPublic]:
    """Reveals, erasures and exports of personal data, newest first."""
    if actor.role not in AUDIT_ROLES:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "只有管理员和督办员可以查看隐私访问记录")
    return [AccessPublic(**vars(line)) for line in access_log(session, limit=limit, offset=offset)]


@router.post("/admin/residents/erase", response_model=ErasedPublic)
def erase(body: EraseIn, session: SessionDep, runtime: RuntimeDep, actor: CurrentStaff) -> ErasedPublic:
    """Erase a resident's personal data on their request (admins, with a reason; recorded)."""
    if actor.role not in ERASE_ROLES:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "只有管理员可以代居民删除个人信息")
    person = resident_by_contact(session, phone=body.phone, ticket_number=body.ticket_number)
    done = erase_resident(session, runtime, person.id, actor=actor, reason=body.reason)
    session.commit()
    return ErasedPublic(open_tickets=done.open_tickets, finished_tickets=done.finished_tickets)

"""Admin-only endpoints: one-time codes that bind staff chat accounts."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from backend.api.deps import CurrentStaff, RuntimeDep, SessionDep
from backend.domain.roles import Role
from backend.services.binding import issue_bind_code

router = APIRouter(prefix="/api/admin", tags=["admin"])


class BindCodePublic(BaseModel):
    """A one-time code to send to the staff member, and when it stops working."""

    staff_code: str
    code: str
    expires_at: datetime


@router.post("/staff/{code}/bind-code", response_model=BindCodePublic, status_code=status.HTTP_201_CREATED)
def create_bind_code(code: str, session: SessionDep, rt: RuntimeDep, actor: CurrentStaff,
                     ttl_hours: float = Query(24, gt=0, le=24 * 7)) -> BindCodePublic:
    """Issue a one-time code; the staff member sends 绑定 <code> (or /bind <code>) to the bot."""
    if actor.role is not Role.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "只有管理员可以签发绑定码")
    row = issue_bind_code(session, code, rt.clock.now(), timedelta(hours=ttl_hours))
    session.commit()
    return BindCodePublic(staff_code=code, code=row.code, expires_at=row.expires_at)

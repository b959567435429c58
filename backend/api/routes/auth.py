"""Staff login: username (staff code) and password → an expiring bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from backend.api.deps import CurrentStaff, RuntimeDep, SessionDep
from backend.api.schemas import Token
from backend.db.models import Staff
from backend.services.security import issue_token, verify_password

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, runtime: RuntimeDep) -> Token:
    """Exchange a staff code and password for a bearer token."""
    staff = session.scalar(select(Staff).where(Staff.code == form.username))
    if staff is None or not staff.active or not verify_password(form.password, staff.password_hash):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "用户名或密码错误")
    ttl = runtime.settings.token_ttl_minutes
    token = issue_token(
        subject=str(staff.id),
        secret=runtime.settings.secret_key.get_secret_value(),
        ttl_minutes=ttl,
        now=runtime.clock.now(),
        role=staff.role,
    )
    return Token(access_token=token, expires_in=ttl * 60, role=staff.role, name=staff.person.name)


@router.get("/me")
def me(actor: CurrentStaff) -> dict[str, str | None]:
    """Who the token belongs to."""
    return {"name": actor.name, "role": actor.role.value, "scope": actor.scope_code}

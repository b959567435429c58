"""FastAPI dependencies: the database session, the runtime and the current staff member."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from backend.db.models import Staff
from backend.runtime import Runtime
from backend.services.actors import ActorContext
from backend.services.people import staff_actor
from backend.services.security import read_token

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; services commit, anything left open is rolled back."""
    with request.app.state.session_factory() as session:
        yield session


def get_runtime(request: Request) -> Runtime:
    """The process's runtime."""
    return request.app.state.runtime  # type: ignore[no-any-return]


SessionDep = Annotated[Session, Depends(get_session)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def staff_from_token(token: str | None, session: Session, runtime: Runtime) -> Staff | None:
    """The active staff member a token names, or None."""
    if not token:
        return None
    try:
        claims = read_token(token, secret=runtime.settings.secret_key.get_secret_value(), now=runtime.clock.now())
    except jwt.PyJWTError:
        return None
    staff = session.get(Staff, int(claims["sub"])) if str(claims.get("sub", "")).isdigit() else None
    return staff if staff is not None and staff.active else None


def is_cross_origin(request: Request) -> bool:
    """True when the request names an Origin other than the host it was sent to."""
    origin = request.headers.get("origin")
    if not origin:
        return False
    return origin.split("://", 1)[-1] != request.headers.get("host", "")


def get_current_staff(
    request: Request, session: SessionDep, runtime: RuntimeDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> ActorContext:
    """The logged-in staff member (bearer token or dashboard cookie), else 401."""
    cookie = request.cookies.get("gridbot_token")
    if not token and cookie and request.method not in SAFE_METHODS and is_cross_origin(request):
        # A browser attaches the cookie to a cross-site form post too: writes by cookie obey the dashboard's rule.
        raise HTTPException(status.HTTP_403_FORBIDDEN, "跨站请求被拒绝")
    staff = staff_from_token(token or cookie, session, runtime)
    if staff is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "未登录或登录已过期", headers={"WWW-Authenticate": "Bearer"})
    return staff_actor(staff)


CurrentStaff = Annotated[ActorContext, Depends(get_current_staff)]

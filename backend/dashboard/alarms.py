"""The urgent-alarm banner on every dashboard page: it stays (and sounds) until a person acknowledges it."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from backend.api.deps import RuntimeDep, SessionDep
from backend.dashboard.lang import request_lang
from backend.dashboard.web import DashboardUser, SameOrigin, templates
from backend.domain.errors import DomainError
from backend.services import alarms
from backend.texts import error_text, t

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)


@router.get("/alarms/banner", response_class=HTMLResponse)
def banner(request: Request, session: SessionDep, actor: DashboardUser) -> Response:
    """The actor's unacknowledged alarms (polled by every page; empty when there are none)."""
    return templates.TemplateResponse(
        request, "_alarms.html", {"actor": actor, "alarms": alarms.open_alarms(session, actor)}
    )


@router.post("/alarms/{number}/ack", dependencies=[SameOrigin])
def acknowledge(
    number: str, request: Request, session: SessionDep, runtime: RuntimeDep, actor: DashboardUser
) -> Response:
    """Acknowledge an alarm (recorded with who and when), then open its ticket to act on it."""
    page = f"/dashboard/tickets/{quote(number)}"
    lang = request_lang(request)
    try:
        alarms.acknowledge(session, runtime, number, actor)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return RedirectResponse(f"/dashboard/?error={quote(error_text(exc, lang))}", status_code=303)
    return RedirectResponse(f"{page}?msg={quote(t('dashboard.alarm.acked', lang, number=number))}", status_code=303)

"""The privacy page of the operations centre: the log of reveals, erasures and exports (admins and
supervisors) and an admin's erasure of a resident who asked by phone or at a counter, with a reason."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from backend.api.deps import RuntimeDep, SessionDep
from backend.dashboard.lang import request_lang
from backend.dashboard.web import DashboardUser, SameOrigin, templates
from backend.domain.errors import DomainError
from backend.domain.privacy import AUDIT_ROLES, ERASE_ROLES
from backend.services.erasure import erase_resident, resident_by_contact
from backend.services.privacy_log import access_log
from backend.texts import error_text, t

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)


@router.get("/privacy", response_class=HTMLResponse)
def privacy_page(request: Request, session: SessionDep, actor: DashboardUser) -> Response:
    """The privacy log, newest first; the erasure form for admins."""
    if actor.role not in AUDIT_ROLES:
        return templates.TemplateResponse(
            request,
            "error.html",
            {"actor": actor, "message": t("dashboard.privacy.forbidden", request_lang(request))},
            status_code=403,
        )
    return templates.TemplateResponse(
        request,
        "privacy.html",
        {
            "actor": actor,
            "lines": access_log(session, limit=500),
            "can_erase": actor.role in ERASE_ROLES,
            "msg": request.query_params.get("msg"),
            "error": request.query_params.get("error"),
        },
    )


@router.post("/privacy/erase", dependencies=[SameOrigin])
def privacy_erase(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: DashboardUser,
    who: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> RedirectResponse:
    """Erase the resident with this phone number or this reported ticket number."""
    if actor.role not in ERASE_ROLES:
        return _back(error=t("dashboard.privacy.forbidden"))
    who = who.strip()
    by_phone = who.replace("-", "").replace(" ", "").lstrip("+").isdigit()
    try:
        person = resident_by_contact(session, phone=who if by_phone else None, ticket_number=None if by_phone else who)
        done = erase_resident(session, runtime, person.id, actor=actor, reason=reason)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _back(error=error_text(exc, request_lang(request)))
    return _back(msg=t("dashboard.privacy.erased", open=done.open_tickets, finished=done.finished_tickets))


def _back(*, msg: str | None = None, error: str | None = None) -> RedirectResponse:
    query = urlencode({k: v for k, v in (("msg", msg), ("error", error)) if v})
    return RedirectResponse(f"/dashboard/privacy?{query}", status_code=303)

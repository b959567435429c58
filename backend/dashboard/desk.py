"""The triage desk page (分拨台): reports a person must route, each decided in one step (category + grid)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from backend.api.deps import RuntimeDep, SessionDep
from backend.dashboard.labels import config_name
from backend.dashboard.lang import request_lang
from backend.dashboard.web import DashboardUser, SameOrigin, templates
from backend.db.models import Category
from backend.domain.errors import DomainError
from backend.services import desk
from backend.services.reveal import masked
from backend.texts import error_text, t

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)


@router.get("/desk", response_class=HTMLResponse)
def desk_page(request: Request, session: SessionDep, runtime: RuntimeDep, actor: DashboardUser) -> Response:
    """The caller's desk, urgent and oldest first, with the classifier's suggestions preselected."""
    items = desk.desk_queue(session, actor)
    grids = [runtime.city.areas[code] for code in desk.grids_for(runtime, actor)]
    lang = request_lang(request)
    subcategories = [
        (code, config_name("category", code, name, lang))
        for code, name in session.execute(
            select(Category.code, Category.name).where(Category.parent_code.is_not(None)).order_by(Category.code)
        )
    ]
    rows = []
    for ticket in items:
        offered = desk.suggestions(ticket)
        rows.append(
            {
                "ticket": ticket,
                "text": masked(ticket.text),
                "location": masked(ticket.location_text),
                "suggested": offered[0] if offered else None,
                "top3": offered[:3],
            }
        )
    return templates.TemplateResponse(
        request,
        "desk.html",
        {
            "actor": actor,
            "rows": rows,
            "grids": grids,
            "subcategories": subcategories,
            "msg": request.query_params.get("msg"),
            "error": request.query_params.get("error"),
        },
    )


@router.post("/desk/{number}", dependencies=[SameOrigin])
def desk_decide(
    number: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: DashboardUser,
    category_code: Annotated[str, Form(max_length=64)],
    grid_code: Annotated[str, Form(max_length=64)],
    note: Annotated[str, Form(max_length=500)] = "",
) -> RedirectResponse:
    """Route one desk report; it is dispatched at once and the decision kept as a correction."""
    decision = desk.DeskDecision(category_code=category_code, grid_code=grid_code, note=note.strip() or None)
    try:
        desk.decide(session, runtime, number, actor, decision)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _back(error=error_text(exc, request_lang(request)))
    return _back(msg=t("dashboard.desk.dispatched", request_lang(request), number=number))


def _back(*, msg: str | None = None, error: str | None = None) -> RedirectResponse:
    query = urlencode({k: v for k, v in (("msg", msg), ("error", error)) if v})
    return RedirectResponse(f"/dashboard/desk?{query}", status_code=303)

"""The operations-centre pages: login, queue with bulk actions, ticket page, map, statistics and exports."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import select
from starlette.datastructures import QueryParams

from backend.api.deps import RuntimeDep, SessionDep
from backend.dashboard import exports, labels, mapsvg
from backend.dashboard.lang import request_lang
from backend.dashboard.names import category_names, department_names
from backend.dashboard.staffpicker import picker_context
from backend.dashboard.stats import compute_statistics, open_by_grid
from backend.dashboard.web import COOKIE, DashboardUser, SameOrigin, filter_query, parse_filter, templates
from backend.db.models import Category, Department, Person, Staff
from backend.domain.errors import DomainError
from backend.domain.tickets import Action
from backend.runtime import Runtime
from backend.services.access import check_may_touch
from backend.services.corrections import correct_category
from backend.services.hot_issues import hot_issues
from backend.services.queries import TicketFilter, list_tickets
from backend.services.reveal import Contact, may_reveal_ticket, reveal_contact
from backend.services.security import issue_token, verify_password
from backend.services.workflow import available_actions, comment, load_ticket, perform_action, reassign
from backend.texts import error_text, t

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
PAGE_SIZE = 50


def _back(url: str, *, msg: str | None = None, error: str | None = None) -> RedirectResponse:
    sep = "&" if "?" in url else "?"
    if msg:
        url += f"{sep}msg={quote(msg)}"
    elif error:
        url += f"{sep}error={quote(error)}"
    return RedirectResponse(url, status_code=303)


def _choices(session: SessionDep, runtime: RuntimeDep, lang: str = "zh") -> dict[str, object]:
    cats = session.execute(select(Category.code, Category.parent_code).order_by(Category.code)).all()
    names = category_names(session, lang)
    tops = [(c, names[c]) for c, p in cats if p is None]
    subs = {top: [(c, names[c]) for c, p in cats if p == top] for top, _ in tops}
    areas = sorted(runtime.city.areas.values(), key=lambda a: a.code)
    return {
        "categories": tops,
        "subcategories": subs,
        "departments": sorted(department_names(session, lang).items()),
        "streets": [a for a in areas if a.level == "street"],
        "communities": [a for a in areas if a.level == "community"],
        "grids": [a for a in areas if a.level in ("grid", "special")],
    }


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, error: str | None = None) -> HTMLResponse:
    """The login form."""
    return templates.TemplateResponse(request, "login.html", {"error": error})


@router.post("/login", dependencies=[SameOrigin])
def login(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=128)],
) -> Response:
    """Check the staff code and password and set the login cookie."""
    staff = session.scalar(select(Staff).where(Staff.code == username.strip()))
    if staff is None or not staff.active or not verify_password(password, staff.password_hash):
        wrong = t("dash.login.wrong", request_lang(request))
        return templates.TemplateResponse(request, "login.html", {"error": wrong}, status_code=401)
    ttl = runtime.settings.token_ttl_minutes
    token = issue_token(
        subject=str(staff.id),
        secret=runtime.settings.secret_key.get_secret_value(),
        ttl_minutes=ttl,
        now=runtime.clock.now(),
        role=staff.role,
    )
    resp = RedirectResponse("/dashboard/", status_code=303)
    resp.set_cookie(
        COOKIE,
        token,
        max_age=ttl * 60,
        httponly=True,
        samesite="lax",
        secure=runtime.settings.env == "production",
        path="/",
    )
    logger.info("dashboard login: %s (%s)", staff.code, staff.role)
    return resp


@router.post("/logout", dependencies=[SameOrigin])
def logout() -> RedirectResponse:
    """Forget the login cookie."""
    resp = RedirectResponse("/dashboard/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


@router.get("/", response_class=HTMLResponse)
def queue(
    request: Request, session: SessionDep, runtime: RuntimeDep, actor: DashboardUser, page: int = 0
) -> HTMLResponse:
    """The ticket queue: filters, one page of tickets, bulk actions and export links."""
    lang = request_lang(request)
    flt, echo = parse_filter(request.query_params, runtime)
    page = max(0, page)
    rows, more = list_tickets(session, actor, flt, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    ids = {t.assignee_id for t in rows if t.assignee_id}
    assignees = {
        i: f"{c} {n}"
        for i, c, n in session.execute(
            select(Staff.id, Staff.code, Person.name)
            .join(Person, Staff.person_id == Person.id)
            .where(Staff.id.in_(ids))
        )
    }
    names = {a.code: a.name for a in runtime.city.areas.values()}
    return templates.TemplateResponse(
        request,
        "queue.html",
        {
            "actor": actor,
            "rows": rows,
            "more": more,
            "page": page,
            "f": echo,
            "assignees": assignees,
            "area_names": names,
            "query": filter_query(echo),
            **_choices(session, runtime, lang),
            "cat_names": category_names(session, lang),
            "dept_names": department_names(session, lang, short=True),
            "msg": request.query_params.get("msg"),
            "error": request.query_params.get("error"),
        },
    )


@router.post("/bulk", dependencies=[SameOrigin])
def bulk(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: DashboardUser,
    action: Annotated[str, Form()],
    numbers: Annotated[list[str], Form()],
    reason: Annotated[str, Form(max_length=2000)] = "",
    back: Annotated[str, Form()] = "/dashboard/",
) -> RedirectResponse:
    """Apply one action to every selected ticket; report how many succeeded."""
    lang = request_lang(request)
    back = back if back.startswith("/dashboard/") else "/dashboard/"
    if action not in labels.BULK_ACTIONS:
        return _back(back, error=t("dash.bulk.unsupported", lang))
    done, failed = 0, []
    for number in numbers[:200]:
        try:
            perform_action(session, runtime, number, Action(action), actor, reason=reason or None)
            session.commit()
            done += 1
        except DomainError as exc:
            session.rollback()
            failed.append(f"{number}：{error_text(exc, lang)}")
    summary = t("dash.bulk.summary", lang, action=labels.label("action", action, lang), done=done)
    if failed:
        summary += t("dash.bulk.failed", lang, count=len(failed), first=failed[0])
    return _back(back, msg=summary)


@router.get("/tickets/{number}", response_class=HTMLResponse)
def ticket_page(
    number: str, request: Request, session: SessionDep, runtime: RuntimeDep, actor: DashboardUser
) -> Response:
    """One ticket: details, timeline, photos, a map pin, the actions allowed and the category correction."""
    return _ticket_response(number, request, session, runtime, actor)


@router.post("/tickets/{number}/reveal", dependencies=[SameOrigin])
def ticket_reveal(
    number: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: DashboardUser,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """The ticket page with its contact details unmasked, for one view (the reveal is recorded)."""
    try:
        contact = reveal_contact(session, runtime, number, actor, reason=reason)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _back(f"/dashboard/tickets/{quote(number)}", error=error_text(exc, request_lang(request)))
    return _ticket_response(number, request, session, runtime, actor, revealed=contact)


def _ticket_response(
    number: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: DashboardUser,
    *,
    revealed: Contact | None = None,
) -> Response:
    lang = request_lang(request)
    try:
        ticket = load_ticket(session, number)
        check_may_touch(actor, ticket)
    except DomainError as exc:
        return templates.TemplateResponse(
            request, "error.html", {"actor": actor, "message": error_text(exc, lang)}, status_code=404
        )
    allowed = {a.value for a in available_actions(session, runtime, ticket, actor)}
    actors = {
        p.id: p.name
        for p in session.scalars(select(Person).where(Person.id.in_({e.actor_id for e in ticket.events if e.actor_id})))
    }
    assignee = session.get(Staff, ticket.assignee_id) if ticket.assignee_id else None
    return templates.TemplateResponse(
        request,
        "ticket.html",
        {
            "actor": actor,
            "t": ticket,
            "allowed": [a for a in labels.DASHBOARD_ACTIONS if a in allowed],
            "actors": actors,
            "picker": picker_context(session, runtime, actor, ticket, lang),
            "assignee": assignee,
            **_choices(session, runtime, lang),
            "category": session.get(Category, ticket.category_code) if ticket.category_code else None,
            "department": session.get(Department, ticket.department_code) if ticket.department_code else None,
            "area_names": {a.code: a.name for a in runtime.city.areas.values()},
            "cat_names": category_names(session, lang),
            "dept_names": department_names(session, lang),
            "pin": mapsvg.pin_svg(
                runtime.city, ticket.area_code or ticket.grid_code, ticket.lon, ticket.lat, lang=lang
            ),
            "can_reveal": may_reveal_ticket(actor, ticket),
            "revealed": revealed,
            "msg": request.query_params.get("msg"),
            "error": request.query_params.get("error"),
        },
    )


@router.post("/tickets/{number}/action", dependencies=[SameOrigin])
def ticket_action(
    number: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: DashboardUser,
    action: Annotated[str, Form()],
    reason: Annotated[str, Form(max_length=2000)] = "",
    assignee_code: Annotated[str, Form(max_length=64)] = "",
    hours: Annotated[str, Form(max_length=8)] = "",
    merge_into: Annotated[str, Form(max_length=32)] = "",
) -> RedirectResponse:
    """Take one state-machine action from the ticket page (the same rules as chat and the API)."""
    lang = request_lang(request)
    url = f"/dashboard/tickets/{quote(number)}"
    if action not in labels.DASHBOARD_ACTIONS:
        return _back(url, error=t("dash.ticket.unsupported", lang))
    data = {"hours": float(hours)} if hours.replace(".", "", 1).isdigit() and float(hours) > 0 else None
    try:
        perform_action(
            session,
            runtime,
            number,
            Action(action),
            actor,
            reason=reason.strip() or None,
            assignee_code=assignee_code or None,
            merge_into=merge_into.strip().upper() or None,
            data=data,
        )
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _back(url, error=error_text(exc, lang))
    return _back(url, msg=t("dash.ticket.done", lang, action=labels.label("action", action, lang)))


@router.post("/tickets/{number}/reassign", dependencies=[SameOrigin])
def ticket_reassign(
    number: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: DashboardUser,
    assignee_code: Annotated[str, Form(max_length=64)],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> RedirectResponse:
    """Give the ticket to another staff member."""
    url = f"/dashboard/tickets/{quote(number)}"
    try:
        reassign(session, runtime, number, actor, assignee_code=assignee_code, note=note or None)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _back(url, error=error_text(exc, request_lang(request)))
    return _back(url, msg=t("dash.ticket.reassigned", request_lang(request), staff=assignee_code))


@router.post("/tickets/{number}/category", dependencies=[SameOrigin])
def ticket_category(
    number: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: DashboardUser,
    category_code: Annotated[str, Form(max_length=64)],
) -> RedirectResponse:
    """Correct the category (kept for retraining)."""
    url = f"/dashboard/tickets/{quote(number)}"
    try:
        correct_category(session, runtime, number, actor, category_code=category_code)
    except DomainError as exc:
        session.rollback()
        return _back(url, error=error_text(exc, request_lang(request)))
    session.commit()
    return _back(url, msg=t("dash.ticket.corrected", request_lang(request)))


@router.post("/tickets/{number}/comment", dependencies=[SameOrigin])
def ticket_comment(
    number: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: DashboardUser,
    note: Annotated[str, Form(max_length=2000)],
) -> RedirectResponse:
    """Add a note to the timeline."""
    url = f"/dashboard/tickets/{quote(number)}"
    try:
        comment(session, runtime, number, actor, note=note)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _back(url, error=error_text(exc, request_lang(request)))
    return _back(url, msg=t("dash.ticket.noted", request_lang(request)))


@router.get("/map.svg")
def map_svg(request: Request, session: SessionDep, runtime: RuntimeDep, actor: DashboardUser) -> Response:
    """The district map alone, as an SVG document, in the page's language."""
    svg = mapsvg.district_svg(runtime.city, open_by_grid(session, actor), lang=request_lang(request))
    return Response(svg, media_type="image/svg+xml")


def _stats_filter(request: Request, runtime: Runtime) -> tuple[TicketFilter, dict[str, Any]]:
    """The queue filter, defaulting to the last 30 local days when no date is given."""
    params = request.query_params
    if "created_from" not in params and "created_to" not in params:
        today = runtime.clock.now().astimezone(ZoneInfo(runtime.settings.timezone)).date()
        params = QueryParams(f"{params}&created_from={(today - timedelta(days=29)).isoformat()}")
    return parse_filter(params, runtime)


@router.get("/stats", response_class=HTMLResponse)
def stats_page(request: Request, session: SessionDep, runtime: RuntimeDep, actor: DashboardUser) -> HTMLResponse:
    """Statistics of a period (default: the last 30 days) within your scope and filter."""
    lang = request_lang(request)
    flt, echo = _stats_filter(request, runtime)
    stats = compute_statistics(session, runtime, actor, flt)
    cats, depts = category_names(session, lang), department_names(session, lang)
    return templates.TemplateResponse(
        request,
        "stats.html",
        {
            "actor": actor,
            "s": stats,
            "f": echo,
            "query": filter_query(echo),
            **_choices(session, runtime, lang),
            "cat_names": cats,
            "dept_names": depts,
            "chart": {
                "days": [d.isoformat() for d, _ in stats.by_day],
                "day_counts": [n for _, n in stats.by_day],
                "categories": [cats.get(c, n) for c, n, _ in stats.by_category[:16]],
                "category_counts": [c for _, _, c in stats.by_category[:16]],
                "departments": [depts.get(c, n) for c, n, _ in stats.by_department[:14]],
                "department_counts": [c for _, _, c in stats.by_department[:14]],
                "statuses": [labels.label("status", s, lang) for s in stats.by_status],
                "status_counts": list(stats.by_status.values()),
            },
        },
    )


@router.get("/stats/hot", response_class=HTMLResponse)
def stats_hot_issues(request: Request, session: SessionDep, runtime: RuntimeDep, actor: DashboardUser) -> HTMLResponse:
    """The statistics page's hot issues, loaded after its figures: finding them reads the period's texts."""
    flt, _ = _stats_filter(request, runtime)
    return templates.TemplateResponse(
        request,
        "_hot_issues.html",
        {
            "actor": actor,
            "hot_issues": hot_issues(session, runtime, actor, flt),
            "cat_names": category_names(session, request_lang(request)),
        },
    )


@router.get("/export/tickets.{fmt}")
def export_tickets(
    fmt: str, request: Request, session: SessionDep, runtime: RuntimeDep, actor: DashboardUser
) -> Response:
    """The filtered queue as CSV or XLSX."""
    flt, _ = parse_filter(request.query_params, runtime)
    rows = exports.ticket_rows(session, actor, flt, timezone=runtime.settings.timezone)
    stamp = runtime.clock.now().strftime("%Y%m%d%H%M")
    if fmt == "csv":
        return StreamingResponse(
            exports.to_csv(rows),
            media_type=exports.CSV_MIME,
            headers={"Content-Disposition": f'attachment; filename="tickets-{stamp}.csv"'},
        )
    if fmt == "xlsx":
        return Response(
            exports.to_xlsx({"工单": rows}),
            media_type=exports.XLSX_MIME,
            headers={"Content-Disposition": f'attachment; filename="tickets-{stamp}.xlsx"'},
        )
    return Response(t("dash.export.unknown", request_lang(request)), status_code=404)


@router.get("/export/stats.{fmt}")
def export_stats(
    fmt: str, request: Request, session: SessionDep, runtime: RuntimeDep, actor: DashboardUser
) -> Response:
    """The statistics of the period as CSV (sections) or XLSX (one sheet per table)."""
    flt, _ = _stats_filter(request, runtime)
    stats = compute_statistics(session, runtime, actor, flt)
    stamp = runtime.clock.now().strftime("%Y%m%d%H%M")
    if fmt == "csv":
        return Response(
            exports.statistics_csv(stats),
            media_type=exports.CSV_MIME,
            headers={"Content-Disposition": f'attachment; filename="stats-{stamp}.csv"'},
        )
    if fmt == "xlsx":
        return Response(
            exports.to_xlsx(exports.statistics_tables(stats)),
            media_type=exports.XLSX_MIME,
            headers={"Content-Disposition": f'attachment; filename="stats-{stamp}.xlsx"'},
        )
    return Response(t("dash.export.unknown", request_lang(request)), status_code=404)

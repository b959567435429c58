"""Dashboard plumbing: the login cookie, the queue filter from query strings, templates and their filters."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request, status
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.datastructures import QueryParams

from backend.api.deps import RuntimeDep, SessionDep, is_cross_origin, staff_from_token
from backend.dashboard import labels, lang
from backend.domain.tickets import TicketStatus
from backend.runtime import Runtime
from backend.services.actors import ActorContext
from backend.services.people import staff_actor
from backend.services.queries import TicketFilter
from backend.services.reveal import masked
from backend.texts import t

COOKIE = "gridbot_token"
LOGIN_PATH = "/dashboard/login"
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals.update(
    labels=labels,
    label=lang.label,
    names=lang.names,
    tr=lang.tr,
    page_lang=lang.page_lang,
    other_lang_url=lang.other_lang_url,
    trail_note=lang.trail_note,
)


def login_required(request: Request, session: SessionDep, runtime: RuntimeDep) -> ActorContext:
    """The logged-in staff member from the cookie; otherwise a redirect to the login page."""
    staff = staff_from_token(request.cookies.get(COOKIE), session, runtime)
    if staff is None:
        # htmx follows HX-Redirect; a plain browser follows the 303.
        raise HTTPException(
            status.HTTP_303_SEE_OTHER,
            t("dash.login.required", lang.request_lang(request)),
            headers={"Location": LOGIN_PATH, "HX-Redirect": LOGIN_PATH},
        )
    return staff_actor(staff)


DashboardUser = Annotated[ActorContext, Depends(login_required)]


def check_same_origin(request: Request) -> None:
    """Refuse a form post whose Origin is another site (the cookie is SameSite=Lax as well)."""
    if is_cross_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, t("dash.cross_site", lang.request_lang(request)))


SameOrigin = Depends(check_same_origin)


def _local_day(value: str | None, tz: ZoneInfo) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(0), tzinfo=tz)
    except ValueError:
        return None


def parse_filter(params: QueryParams, runtime: Runtime) -> tuple[TicketFilter, dict[str, Any]]:
    """The queue filter from a query string (dates are local days, the end day included) and its echo."""
    tz = ZoneInfo(runtime.settings.timezone)
    statuses = [s for s in params.getlist("status") if s in TicketStatus.__members__]
    if params.get("open") == "1":
        statuses = [s for s in labels.STATUSES if s not in ("closed", "cancelled", "merged")]
    lights = [v for v in params.getlist("light") if v in labels.LIGHTS]
    start = _local_day(params.get("created_from"), tz)
    end = _local_day(params.get("created_to"), tz)
    q = (params.get("q") or "").strip()[:100] or None
    flt = TicketFilter(
        status=statuses or None,
        light=lights or None,
        category=params.get("category") or None,
        grid=params.get("grid") or None,
        department=params.get("department") or None,
        created_from=start,
        created_to=end + timedelta(days=1) if end else None,
        q=q,
    )
    echo = {
        "status": statuses if params.get("open") != "1" else [],
        "open": params.get("open") == "1",
        "light": lights,
        "category": flt.category or "",
        "grid": flt.grid or "",
        "department": flt.department or "",
        "created_from": params.get("created_from") or "",
        "created_to": params.get("created_to") or "",
        "q": q or "",
    }
    return flt, echo


def filter_query(echo: dict[str, Any], **extra: Any) -> str:
    """The query string that reproduces a filter (for exports, pages and links)."""
    pairs: list[tuple[str, Any]] = []
    for key, value in {**echo, **extra}.items():
        if isinstance(value, list):
            pairs += [(key, v) for v in value]
        elif value is True:
            pairs.append((key, "1"))
        elif value not in (None, "", False):
            pairs.append((key, value))
    return urlencode(pairs)


def local_time(value: datetime | None, tz: str) -> str:
    """A UTC datetime as local 'YYYY-MM-DD HH:MM'."""
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if value else "—"


@pass_context
def _localtime_filter(context: Context, value: datetime | None) -> str:
    """The `localtime` template filter: in the zone of the settings of the app serving the request."""
    runtime: Runtime = context["request"].app.state.runtime
    return local_time(value, runtime.settings.timezone)


def percent(value: float | None) -> str:
    """A rate as '87.5%', or '—'."""
    return "—" if value is None else f"{value * 100:.1f}%"


templates.env.filters.update(localtime=_localtime_filter, percent=percent, masked=masked)
templates.env.globals.update(filter_query=filter_query)

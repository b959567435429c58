"""The staff picker (改派): a search box with area, department and on-duty filters, answered by htmx.

The options come from backend.services.staff_directory, inside the logged-in staff member's scope; the
reassign service refuses anyone else, whatever a form posts.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from backend.api.deps import RuntimeDep, SessionDep
from backend.dashboard.names import department_names
from backend.dashboard.web import DashboardUser, templates
from backend.db.models import Ticket
from backend.domain.errors import DomainError
from backend.runtime import Runtime
from backend.services.access import check_may_touch
from backend.services.actors import ActorContext
from backend.services.staff_directory import StaffSearch, find_staff, in_scope_area, near_ticket
from backend.services.workflow import load_ticket

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
PICKER_LEVELS = ("street", "community", "grid", "special")


def picker_context(
    session: Session, runtime: Runtime, actor: ActorContext, ticket: Ticket, lang: str
) -> dict[str, Any]:
    """What the picker of a ticket page shows first: the staff near the ticket, and the filter choices."""
    search = near_ticket(ticket)
    areas = sorted(
        (
            a
            for a in runtime.city.areas.values()
            if a.level in PICKER_LEVELS and in_scope_area(runtime.city, actor, a.code)
        ),
        key=lambda a: (PICKER_LEVELS.index(a.level), a.code),
    )
    return {
        "search": search,
        "options": find_staff(session, runtime.city, actor, search, ticket=ticket),
        "areas": areas,
        "departments": sorted(department_names(session, lang).items()),
    }


@router.get("/staff", response_class=HTMLResponse)
def staff_options(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: DashboardUser,
    q: str = "",
    grid: str = "",
    department: str = "",
    on_duty: str = "",
    ticket: str = "",
) -> HTMLResponse:
    """The picker's options for a search: staff in your scope matching the text and the filters."""
    found = None
    if ticket:
        try:
            found = load_ticket(session, ticket[:64])
            check_may_touch(actor, found)
        except DomainError:
            found = None
    search = StaffSearch(q=q[:64], area=grid or None, department=department or None, on_duty=on_duty == "1")
    options = find_staff(session, runtime.city, actor, search, ticket=found)
    return templates.TemplateResponse(request, "_staff_options.html", {"options": options})

"""The RBAC matrix, enforced on every surface that shows tickets or acts on them.

MATRIX below is the specification: one row per (role, scope) with the staff member who plays it, one column
per operation, Y = allowed, - = refused. Every cell is checked through every surface that offers the
operation (SURFACES: the staff API, the dashboard pages, its actions and bulk actions, exports and
statistics). A refusal must be a 403/404 (a redirect carrying an error on the dashboard) and must change
nothing; outside its scope an actor gets the same status for the ticket as for a ticket that does not exist.

The rules come from backend/services/access.py (scope), backend/domain/permissions.py (who may make a move on
this ticket: assignee, verify-only colleagues, 自办自结) and backend/domain/tickets.py:TRANSITIONS (role ×
action × status). Route-level rules (every non-public route refuses anonymous, expired and forged
credentials; dashboard posts refuse foreign origins) are checked on routes read from app.routes, so a new
route without a check fails here.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from openpyxl import load_workbook
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import Mount

from backend.api.app import create_app
from backend.db.models import Attachment, BindCode, Notification, Staff, Ticket, TicketEvent
from backend.domain.roles import Role
from backend.runtime import Runtime
from backend.services import attachments
from backend.services.actors import ActorContext
from backend.services.security import issue_token
from backend.services.workflow import reassign
from backend.settings import Settings

# The ticket every cell is about: a garbage report in grid LC010101 (community LC0101, street LC01),
# department urban_management, dispatched at the grid tier to the grid's gridworker GW001.
#   in       the ticket lies in the actor's area or department (GW001 is also its assignee)
#   assigned outside the actor's area and department, but (re)assigned to the actor
#   out      outside the actor's area and department, not assigned to them
#   all      supervisor and admin see the whole district
MATRIX = """
role                 scope    staff see comment photo new accept return escalate suspend cancel reassign category admin
gridworker           in       GW001 Y   Y       Y     Y   Y      Y      Y        -       -      -        -        -
gridworker           assigned GW053 Y   Y       Y     Y   Y      Y      Y        -       -      -        -        -
gridworker           out      GW002 -   -       -     Y   -      -      -        -       -      -        -        -
grid_leader          in       GL01  Y   Y       Y     Y   -      -      Y        -       -      -        -        -
grid_leader          out      GL02  -   -       -     Y   -      -      -        -       -      -        -        -
community_dispatcher in       CD01  Y   Y       Y     Y   -      -      Y        Y       -      Y        Y        -
community_dispatcher out      CD02  -   -       -     Y   -      -      -        -       -      -        -        -
street_dispatcher    in       SD01  Y   Y       Y     Y   -      -      Y        Y       -      Y        Y        -
street_dispatcher    out      SD02  -   -       -     Y   -      -      -        -       -      -        -        -
department_handler   in       DH12  Y   Y       Y     Y   -      -      -        -       -      -        -        -
department_handler   assigned DH01  Y   Y       Y     Y   Y      Y      Y        -       -      -        -        -
department_handler   out      DH03  -   -       -     Y   -      -      -        -       -      -        -        -
supervisor           all      SUP01 Y   Y       Y     Y   -      -      Y        Y       -      Y        Y        -
admin                all      ADM01 Y   Y       Y     Y   -      -      -        Y       Y      Y        Y        Y
"""
# Columns: see = the ticket is listed, readable, exported and counted; comment = add a note; photo = upload a
# photo; new = register a new report (hotline call, walk-in); accept/return = the assignee's moves
# (permissions.HANDLER_ACTIONS; a gridworker or department handler who is not the assignee may only verify,
# so DH12 may not escalate);
# escalate (吹哨), suspend, cancel = state-machine moves from `dispatched`; reassign and category = the
# dispatchers' corrections; admin = the /api/admin endpoints.

NO_SUCH_TICKET = "GB20000101-9999"
ORIGIN = "http://testserver"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
    b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@dataclass(frozen=True)
class Row:
    """One row of the matrix: who, in which relation to the ticket, and what they may do."""

    role: str
    scope: str
    staff: str
    allows: dict[str, bool]

    @property
    def id(self) -> str:
        return f"{self.staff}-{self.scope}"


def _parse(table: str) -> list[Row]:
    header, *lines = [line.split() for line in table.strip().splitlines()]
    columns = header[3:]
    rows = []
    for cells in lines:
        marks = cells[3:]
        assert len(marks) == len(columns) and set(marks) <= {"Y", "-"}, cells
        rows.append(Row(cells[0], cells[1], cells[2], {c: m == "Y" for c, m in zip(columns, marks, strict=True)}))
    return rows


ROWS = _parse(MATRIX)
COLUMNS = list(ROWS[0].allows)


@dataclass(frozen=True)
class Outcome:
    """What a surface answered: allowed or refused, and the HTTP status that said so."""

    allowed: bool
    status: int


@dataclass
class World:
    """One test's ticket, photo, client and the acting staff member's token."""

    client: TestClient
    session_factory: sessionmaker[Session]
    number: str
    photo_id: int
    dead_id: int
    token: str

    def api(self, method: str, url: str, **kw: Any) -> Response:
        """A staff API request with the bearer token only (no cookie)."""
        self.client.cookies.clear()
        return self.client.request(method, url, headers={"Authorization": f"Bearer {self.token}"}, **kw)

    def dash(self, method: str, url: str, **kw: Any) -> Response:
        """A dashboard request with the login cookie (and, for a form post, the page's own Origin)."""
        self.client.cookies.clear()
        self.client.cookies.set("gridbot_token", self.token)
        headers = {"Origin": ORIGIN} if method == "POST" else {}
        return self.client.request(method, url, headers=headers, **kw)

    def fingerprint(self) -> tuple[Any, ...]:
        """What a cell may change: the ticket's state, timeline and photos, the ticket count, bind codes and dead
        letters, read through a fresh session."""
        with self.session_factory() as s:
            t = s.scalars(select(Ticket).where(Ticket.number == self.number)).one()
            events = s.scalar(select(func.count()).select_from(TicketEvent).where(TicketEvent.ticket_id == t.id))
            photos = s.scalar(select(func.count()).select_from(Attachment).where(Attachment.ticket_id == t.id))
            tickets = s.scalar(select(func.count()).select_from(Ticket))
            codes = s.scalar(select(func.count()).select_from(BindCode))
            dead = s.scalar(select(func.count()).select_from(Notification).where(Notification.status == "dead"))
            return t.status, t.tier, t.assignee_id, t.category_code, events, photos, tickets, codes, dead


def _answer(resp: Response, ok: int, refused: tuple[int, ...] = (403, 404)) -> Outcome:
    if resp.status_code == ok:
        return Outcome(True, ok)
    if resp.status_code in refused:
        return Outcome(False, resp.status_code)
    raise AssertionError(f"neither allowed ({ok}) nor refused {refused}: {resp.status_code} {resp.text[:300]}")


def _dash_post(resp: Response) -> Outcome:
    """A dashboard form post answers 303 back to the page with ?msg= (done) or ?error= (refused)."""
    assert resp.status_code == 303, resp.text[:300]
    query = parse_qs(urlsplit(resp.headers["location"]).query)
    assert ("msg" in query) != ("error" in query), resp.headers["location"]
    return Outcome("msg" in query, 303)


def _listed(resp: Response, number: str) -> Outcome:
    assert resp.status_code == 200, resp.text[:300]
    return Outcome(number in resp.text, 200)


def _count(resp: Response, value: int) -> Outcome:
    """Statistics over a world of one ticket: 1 when the actor may count it, else 0."""
    assert resp.status_code == 200, resp.text[:300]
    assert value in (0, 1), value
    return Outcome(value == 1, 200)


def _xlsx_cells(resp: Response, sheet: str | None = None) -> list[list[Any]]:
    assert resp.status_code == 200, resp.text[:300]
    book = load_workbook(io.BytesIO(resp.content), read_only=True)
    ws = book[sheet] if sheet else book.worksheets[0]
    return [list(r) for r in ws.iter_rows(values_only=True)]


def _stats_total_csv(text: str) -> int:
    return next(int(r[1]) for r in csv.reader(io.StringIO(text.lstrip("\ufeff"))) if r[:1] == ["工单总数"])


# --- the surfaces, by column ---------------------------------------------------------------------------------
# Each takes the world and a ticket number (the real one, or one that does not exist) and says what it answered.

Surface = Callable[[World, str], Outcome]
REASON = {"reason": "安全矩阵测试"}


def _api_action(action: str) -> Surface:
    return lambda w, n: _answer(w.api("POST", f"/api/tickets/{n}/actions/{action}", json=REASON), 200)


def _dash_action(action: str) -> Surface:
    return lambda w, n: _dash_post(w.dash("POST", f"/dashboard/tickets/{n}/action", data={"action": action, **REASON}))


def _bulk(action: str) -> Surface:
    def run(w: World, n: str) -> Outcome:
        resp = w.dash("POST", "/dashboard/bulk", data={"action": action, "numbers": [n], **REASON})
        assert resp.status_code == 303, resp.text[:300]
        msg = parse_qs(urlsplit(resp.headers["location"]).query)["msg"][0]
        done = int(re.search(r"成功 (\d+) 张", msg)[1])  # type: ignore[index]
        return Outcome(done == 1, 303)

    return run


def _map_open(svg: str) -> int:
    m = re.search(r'data-grid="LC010101" data-state="\w+" data-open="(\d+)"', svg)
    assert m, "grid LC010101 missing from the map"
    return int(m[1])


def _area_open(resp: Response) -> int:
    areas = {f["properties"]["code"]: f["properties"] for f in resp.json()["features"]}
    assert "LC010101" in areas, "grid LC010101 missing from the map"
    return int(areas["LC010101"]["open"])


SURFACES: dict[str, dict[str, Surface]] = {
    "see": {
        "api list": lambda w, n: _listed(w.api("GET", "/api/tickets", params={"limit": 500}), f'"{n}"'),
        "api detail": lambda w, n: _answer(w.api("GET", f"/api/tickets/{n}"), 200),
        "api photo": lambda w, n: _answer(w.api("GET", f"/api/tickets/{n}/photos/{w.photo_id}"), 200),
        "api counts": lambda w, n: _count(r := w.api("GET", "/api/stats/counts"), r.json()["total"]),
        "dashboard queue": lambda w, n: _listed(w.dash("GET", "/dashboard/"), f'data-number="{n}"'),
        "dashboard ticket page": lambda w, n: _answer(w.dash("GET", f"/dashboard/tickets/{n}"), 200, (403, 404)),
        "dashboard tickets.csv": lambda w, n: _listed(w.dash("GET", "/dashboard/export/tickets.csv"), f"\n{n},"),
        "dashboard tickets.xlsx": lambda w, n: Outcome(
            any(row[0] == n for row in _xlsx_cells(w.dash("GET", "/dashboard/export/tickets.xlsx"))), 200
        ),
        "dashboard stats": lambda w, n: _count(
            r := w.dash("GET", "/dashboard/stats"), int(re.search(r'id="kpi-total">(\d+)<', r.text)[1])
        ),  # type: ignore[index]
        "dashboard stats.csv": lambda w, n: _count(
            r := w.dash("GET", "/dashboard/export/stats.csv"), _stats_total_csv(r.text)
        ),
        "dashboard stats.xlsx": lambda w, n: _count(
            r := w.dash("GET", "/dashboard/export/stats.xlsx"),
            next(row[1] for row in _xlsx_cells(r, "概览") if row[0] == "工单总数"),
        ),
        "dashboard map areas": lambda w, n: _count(r := w.dash("GET", "/dashboard/map/areas.geojson"), _area_open(r)),
        "dashboard map pins": lambda w, n: _listed(w.dash("GET", "/dashboard/map/tickets.geojson"), f'"{n}"'),
        "dashboard map.svg": lambda w, n: _count(r := w.dash("GET", "/dashboard/map.svg"), _map_open(r.text)),
    },
    "comment": {
        "api": lambda w, n: _answer(w.api("POST", f"/api/tickets/{n}/comments", json={"note": "到此一看"}), 201),
        "dashboard": lambda w, n: _dash_post(
            w.dash("POST", f"/dashboard/tickets/{n}/comment", data={"note": "到此一看"})
        ),
    },
    "photo": {
        "api upload": lambda w, n: _answer(
            w.api(
                "POST",
                f"/api/tickets/{n}/photos",
                params={"stage": "on_site"},
                files={"file": ("p.png", io.BytesIO(PNG + b"x"), "image/png")},
            ),
            201,
        ),
    },
    "new": {
        "api": lambda w, n: _answer(
            w.api(
                "POST",
                "/api/tickets",
                json={
                    "text": "市民来电：建设路路灯不亮",
                    "lon": 113.5895,
                    "lat": 34.73925,
                    "category_code": "street_lights",
                },
            ),
            201,
            (403,),
        ),
    },
    "accept": {"api": _api_action("accept")},
    "return": {"api": _api_action("return"), "dashboard": _dash_action("return")},
    "escalate": {
        "api": _api_action("escalate"),
        "dashboard": _dash_action("escalate"),
        "dashboard bulk": _bulk("escalate"),
    },
    "suspend": {"api": _api_action("suspend"), "dashboard": _dash_action("suspend")},
    "cancel": {"api": _api_action("cancel")},
    "reassign": {
        "api": lambda w, n: _answer(w.api("POST", f"/api/tickets/{n}/reassign", json={"assignee_code": "GW003"}), 200),
        "dashboard": lambda w, n: _dash_post(
            w.dash("POST", f"/dashboard/tickets/{n}/reassign", data={"assignee_code": "GW003"})
        ),
    },
    "category": {
        "api": lambda w, n: _answer(
            w.api("POST", f"/api/tickets/{n}/category", json={"category_code": "illegal_ads"}), 200
        ),
        "dashboard": lambda w, n: _dash_post(
            w.dash("POST", f"/dashboard/tickets/{n}/category", data={"category_code": "illegal_ads"})
        ),
    },
    "admin": {
        "api bind-code": lambda w, n: _answer(w.api("POST", "/api/admin/staff/GW005/bind-code"), 201, (403,)),
        "api dead-letters": lambda w, n: _answer(w.api("GET", "/api/admin/dead-letters"), 200, (403,)),
        "api requeue": lambda w, n: _answer(
            w.api("POST", "/api/admin/dead-letters/requeue", json={"ids": [w.dead_id]}), 200, (403,)
        ),
    },
}
assert set(SURFACES) == set(COLUMNS), "every matrix column needs its surfaces"
# Cells that only read: they must change nothing, whoever asks.
READS = {("see", s) for s in SURFACES["see"]} | {("admin", "api dead-letters")}
# Surfaces that take no ticket number: nothing to compare with a ticket that does not exist.
NO_NUMBER = (
    {("see", s) for s in SURFACES["see"] if s not in ("api detail", "api photo", "dashboard ticket page")}
    | {("new", "api")}
    | {("admin", s) for s in SURFACES["admin"]}
)

CELLS = [pytest.param(row, column, id=f"{row.id}-{column}") for row in ROWS for column in COLUMNS]


@pytest.fixture
def app(runtime: Runtime, session_factory: sessionmaker[Session]) -> FastAPI:
    """The staff API with the dashboard and Open311, as create_app composes it."""
    return create_app(runtime, session_factory)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client that shows redirects instead of following them."""
    with TestClient(app, follow_redirects=False) as c:
        yield c


def token_for(session: Session, runtime: Runtime, code: str, **override: Any) -> str:
    """A bearer token exactly as /api/auth/token issues it (login itself is tested in tests/backend/test_api.py)."""
    row = session.scalars(select(Staff).where(Staff.code == code)).one()
    values: dict[str, Any] = {
        "secret": runtime.settings.secret_key.get_secret_value(),
        "ttl_minutes": runtime.settings.token_ttl_minutes,
        "now": runtime.clock.now(),
        **override,
    }
    return issue_token(subject=str(row.id), role=row.role, **values)


@pytest.fixture
def world(
    client: TestClient,
    session: Session,
    session_factory: sessionmaker[Session],
    runtime: Runtime,
    report: Callable[..., Ticket],
    staff: Callable[[str], ActorContext],
) -> Callable[[Row], World]:
    """Make the matrix's ticket (with a photo, reassigned for an 'assigned' row) and log the row's actor in."""

    def make(row: Row) -> World:
        ticket = report()
        assert (ticket.status, ticket.tier, ticket.grid_code, ticket.department_code) == (
            "dispatched",
            "grid",
            "LC010101",
            "urban_management",
        )
        photo = attachments.store_photo(
            session,
            upload_dir=runtime.settings.upload_dir,
            ticket=ticket,
            data=PNG,
            stage="report",
            uploaded_by=None,
            max_bytes=runtime.settings.upload_max_bytes,
        )
        dead = session.scalars(
            select(Notification).where(Notification.ticket_id == ticket.id).order_by(Notification.id)
        ).first()
        assert dead is not None, "the report queued no notification to dead-letter"
        dead.status, dead.last_error = "dead", "blocked by the user"
        session.commit()
        if row.scope == "assigned":
            reassign(session, runtime, ticket.number, staff("ADM01"), assignee_code=row.staff)
            session.commit()
        return World(client, session_factory, ticket.number, photo.id, dead.id, token_for(session, runtime, row.staff))

    return make


def _check(w: World, row: Row, column: str, surface: str) -> list[str]:
    """The problems with one cell on one surface (empty when it behaves as the matrix says)."""
    expected, probe = row.allows[column], SURFACES[column][surface]
    where = f"{row.staff} ({row.role}, {row.scope}) {column} via {surface}"
    before = w.fingerprint()
    outcome = probe(w, w.number)
    after = w.fingerprint()
    problems = []
    if outcome.allowed is not expected:
        problems.append(
            f"{where}: {'allowed' if outcome.allowed else 'refused'} ({outcome.status}), "
            f"the matrix says {'Y' if expected else '-'}"
        )
    if (column, surface) in READS and after != before:
        problems.append(f"{where}: a read changed something: {before} → {after}")
    if (column, surface) not in READS and (after != before) is not expected:
        problems.append(
            f"{where}: {'nothing changed' if expected else 'a refusal changed something'}: {before} → {after}"
        )
    if row.scope == "out" and (column, surface) not in NO_NUMBER:
        # No existence oracle: a ticket outside your scope answers like a ticket that does not exist.
        missing = probe(w, NO_SUCH_TICKET)
        if missing.status != outcome.status:
            problems.append(f"{where}: {outcome.status} for the ticket but {missing.status} for no ticket")
    return problems


@pytest.mark.parametrize(("row", "column"), CELLS)
def test_rbac_matrix_cell(world: Callable[[Row], World], row: Row, column: str) -> None:
    """One cell of the matrix through every surface that offers it (each mutation on a fresh ticket)."""
    problems: list[str] = []
    shared = world(row) if column == "see" else None
    for surface in SURFACES[column]:
        problems += _check(shared or world(row), row, column, surface)
    assert not problems, "\n".join(problems)


def test_matrix_rows_cover_every_staff_role() -> None:
    staff_roles = {r.value for r in Role} - {"resident", "system"}
    assert {row.role for row in ROWS} == staff_roles
    scoped = staff_roles - {"supervisor", "admin"}
    assert {row.role for row in ROWS if row.scope == "out"} == scoped, "every scoped role needs an 'out' row"


# --- beyond tickets: findings kept as tests -------------------------------------------------------------------


def test_merge_into_a_ticket_outside_scope_is_refused(
    client: TestClient, session: Session, runtime: Runtime, report: Callable[..., Ticket]
) -> None:
    """A dispatcher may merge into a ticket they can see, never into one outside their scope (it would reveal it
    and make the reporter a follower there)."""
    ticket = report()
    mine = report("楼下垃圾桶满了没人倒", openid="o_resident_2")
    theirs = report("垃圾堆在路边好几天了", openid="o_resident_3", lon=None, lat=None, area_code="LC010201")
    assert (ticket.community_code, mine.community_code, theirs.community_code) == ("LC0101", "LC0101", "LC0102")
    cd01 = {"Authorization": f"Bearer {token_for(session, runtime, 'CD01')}"}
    merge = {"reason": "重复反映"}
    refused = client.post(
        f"/api/tickets/{ticket.number}/actions/merge", headers=cd01, json={**merge, "merge_into": theirs.number}
    )
    missing = client.post(
        f"/api/tickets/{ticket.number}/actions/merge", headers=cd01, json={**merge, "merge_into": NO_SUCH_TICKET}
    )
    assert refused.status_code == missing.status_code == 404, refused.text
    session.expire_all()
    assert ticket.status == "dispatched" and ticket.merged_into_id is None
    allowed = client.post(
        f"/api/tickets/{ticket.number}/actions/merge", headers=cd01, json={**merge, "merge_into": mine.number}
    )
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["status"] == "merged"


# --- every route: anonymous, expired and forged credentials, foreign origins ------------------------------------

# Routes anyone may call, and why. Everything else under /api answers 401 and everything under /dashboard
# redirects to the login page; a route elsewhere that is not listed here fails test_every_route_is_public_or_guarded.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/health"): "liveness for the load balancer",
    ("GET", "/metrics"): "Prometheus: aggregate counts only, no ticket data",
    ("GET", "/docs"): "OpenAPI UI",
    ("GET", "/docs/oauth2-redirect"): "OpenAPI UI",
    ("GET", "/redoc"): "OpenAPI UI",
    ("MOUNT", "/docs/assets"): "vendored Swagger UI and ReDoc files",
    ("GET", "/openapi.json"): "OpenAPI document",
    ("POST", "/api/auth/token"): "the login itself",
    ("GET", "/dashboard"): "redirects to /dashboard/, which asks for a login",
    ("GET", "/dashboard/login"): "the login form",
    ("POST", "/dashboard/login"): "the login itself",
    ("POST", "/dashboard/logout"): "forgets the cookie",
    ("MOUNT", "/dashboard/static"): "vendored CSS and JavaScript",
    ("GET", "/open311/v2/services.{fmt}"): "GeoReport v2 is public by design",
    ("GET", "/open311/v2/services/{service_code}.{fmt}"): "GeoReport v2 is public by design",
    ("GET", "/open311/v2/requests.{fmt}"): "GeoReport v2: public, personal data masked",
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"): "GeoReport v2: public, personal data masked",
    ("POST", "/open311/v2/requests.{fmt}"): "GeoReport v2: needs the api_key",
    ("GET", "/open311/v2/media/{key}"): "GeoReport v2 media_url: finished-work photos only, by a signed path",
    ("GET", "/open311/v2/discovery.{fmt}"): "GeoReport v2 discovery: the endpoint's URL and formats",
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): "GeoReport v2: a POST's token → its public request id",
    ("GET", "/open311/v2/{rest:path}"): "GeoReport v2: any other path answers a GeoReport 404",
    ("POST", "/open311/v2/{rest:path}"): "GeoReport v2: any other path answers a GeoReport 404",
    ("GET", "/wechat"): "signed: platform signature and replay window",
    ("POST", "/wechat"): "signed: platform signature and replay window",
    ("GET", "/wecom"): "signed: platform signature and replay window",
    ("POST", "/wecom"): "signed: platform signature and replay window",
    ("POST", "/telegram/webhook"): "signed: secret-token header",
    ("GET", "/public/reports"): "向群众汇报: the areas with a public report",
    ("GET", "/public/reports/{area_code}"): "向群众汇报: an area's weekly counts and rates, no ticket or personal data",
    ("GET", "/simulator"): "development and test only (404 in production)",
    ("POST", "/simulator/api/send"): "development and test only (404 in production)",
    ("GET", "/simulator/api/inbox"): "development and test only (404 in production)",
}
SAMPLE = {"number": "GB20261123-0001", "action": "accept", "photo_id": "1", "code": "GW001", "fmt": "csv"}


def routes_of(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, included routers flattened; a mounted sub-app is ("MOUNT", path)."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI ≥ 0.16x keeps included routers lazily

        routes: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:
        routes = list(app.routes)
    out = []
    for route in routes:
        if isinstance(getattr(route, "original_route", route), Mount):
            out.append(("MOUNT", route.path))
        else:
            out += [(m, route.path) for m in sorted(route.methods or ()) if m != "HEAD"]
    return out


def concrete(path: str) -> str:
    """A path template with sample values for its parameters."""
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: SAMPLE.get(m[1], "1"), path)


def guarded(app: FastAPI) -> list[tuple[str, str]]:
    """The routes that need a staff login: everything under /api and /dashboard that is not public."""
    return [(m, p) for m, p in routes_of(app) if (m, p) not in PUBLIC and p.startswith(("/api/", "/dashboard/"))]


def refused(resp: Response, path: str) -> bool:
    """401 on the API; on the dashboard a 303 to the login page."""
    if path.startswith("/api/"):
        return resp.status_code == 401
    return resp.status_code == 303 and resp.headers.get("location") == "/dashboard/login"


@pytest.fixture
def full_app(runtime: Runtime, engine: Any) -> FastAPI:
    """The whole service as bot/app.py composes it, every channel mounted (the lifespan is not run)."""
    from bot.app import build_app
    from tests.fakes.wechat import new_aes_key

    settings = runtime.settings.model_copy(
        update={
            "database_url": engine.url.render_as_string(hide_password=False),
            "wecom_aes_key": new_aes_key(),
            "telegram_token": SecretStr("123456:TEST-TOKEN"),
            "telegram_secret": SecretStr("tg-secret"),
        }
    )
    return build_app(settings, dataclasses.replace(runtime, settings=settings))


def test_every_route_is_public_or_guarded(full_app: FastAPI) -> None:
    routes = routes_of(full_app)
    stray = [r for r in routes if r not in PUBLIC and not r[1].startswith(("/api/", "/dashboard/"))]
    assert not stray, f"routes outside /api and /dashboard must be listed in PUBLIC with a reason: {stray}"
    assert not set(PUBLIC) - set(routes), f"PUBLIC lists routes that no longer exist: {set(PUBLIC) - set(routes)}"
    client = TestClient(full_app, follow_redirects=False)
    open_ = [(m, p, r.status_code) for m, p in guarded(full_app) if not refused(r := client.request(m, concrete(p)), p)]
    assert not open_, f"answered an anonymous request: {open_}"
    forged = {
        "signature": "0" * 40,
        "msg_signature": "0" * 40,
        "timestamp": str(int(time.time())),
        "nonce": uuid.uuid4().hex,
        "echostr": "hello",
    }
    unsigned = [
        (m, p, r.status_code)
        for (m, p), why in PUBLIC.items()
        if why.startswith("signed")
        if (r := client.request(m, p, params=forged, content=b"<xml></xml>")).status_code not in (400, 403)
    ]
    assert not unsigned, f"webhooks must refuse requests with a wrong signature: {unsigned}"


def test_the_simulator_is_gone_in_production(runtime: Runtime, engine: Any) -> None:
    from bot.app import build_app

    secrets = {
        name: SecretStr(f"real-{name}-0123456789")
        for name in ("secret_key", "wechat_token", "wecom_token", "telegram_secret", "open311_api_key")
    }
    settings = Settings(
        **{
            **runtime.settings.model_dump(),
            **secrets,
            "env": "production",
            "database_url": engine.url.render_as_string(hide_password=False),
        }
    )
    client = TestClient(build_app(settings, dataclasses.replace(runtime, settings=settings)))
    assert client.get("/simulator").status_code == 404
    assert client.get("/simulator/api/inbox").status_code == 404
    assert client.post("/simulator/api/send", json={"text": "你好", "staff": "ADM01"}).status_code == 404


def _unsigned_token(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _bad_token(kind: str, session: Session, runtime: Runtime) -> str:
    admin = session.scalars(select(Staff).where(Staff.code == "ADM01")).one()
    now = runtime.clock.now()
    claims = {
        "sub": str(admin.id),
        "role": "admin",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    if kind == "expired":
        return token_for(session, runtime, "ADM01", now=now - timedelta(minutes=runtime.settings.token_ttl_minutes + 1))
    if kind == "forged":
        return jwt.encode(claims, "not-our-secret-" * 3, algorithm="HS256")
    if kind == "unsigned":
        return _unsigned_token(claims)
    if kind == "tampered":  # a gridworker's token with the subject changed to the admin's
        head, body, sig = token_for(session, runtime, "GW001").split(".")
        return f"{head}.{_unsigned_token(claims).split('.')[1]}.{sig}"
    if kind == "inactive":
        token = token_for(session, runtime, "ADM01")
        admin.active = False
        session.commit()
        return token
    if kind == "garbage":
        return "abc.def.ghi"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["expired", "forged", "unsigned", "tampered", "inactive", "garbage"])
def test_bad_credentials_are_refused_on_every_guarded_route(
    app: FastAPI, client: TestClient, session: Session, runtime: Runtime, kind: str
) -> None:
    token = _bad_token(kind, session, runtime)
    answered = []
    for method, path in guarded(app):
        client.cookies.clear()
        if path.startswith("/api/"):
            resp = client.request(method, concrete(path), headers={"Authorization": f"Bearer {token}"})
        else:
            client.cookies.set("gridbot_token", token)
            resp = client.request(method, concrete(path), headers={"Origin": ORIGIN})
        if not refused(resp, path):
            answered.append((method, path, resp.status_code))
    assert not answered, f"a {kind} token was accepted: {answered}"


def test_dashboard_posts_refuse_a_foreign_origin_even_when_logged_in(
    app: FastAPI, client: TestClient, session: Session, runtime: Runtime, report: Callable[..., Ticket]
) -> None:
    ticket = report()
    posts = [p for m, p in routes_of(app) if m == "POST" and p.startswith("/dashboard/")]
    assert "/dashboard/tickets/{number}/action" in posts
    client.cookies.set("gridbot_token", token_for(session, runtime, "ADM01"))
    form = {
        "action": "suspend",
        "reason": "x",
        "note": "x",
        "assignee_code": "GW003",
        "category_code": "illegal_ads",
        "numbers": [ticket.number],
        "username": "ADM01",
        "password": "x",
    }
    answered = [
        (p, r.status_code)
        for p in posts
        if (
            r := client.post(
                concrete(p).replace(SAMPLE["number"], ticket.number),
                data=form,
                headers={"Origin": "https://evil.example"},
            )
        ).status_code
        != 403
    ]
    assert not answered, f"cross-site form posts were served: {answered}"
    session.expire_all()
    assert (ticket.status, len(ticket.events)) == ("dispatched", 2)


def test_api_writes_authenticated_by_the_cookie_refuse_a_foreign_origin(
    app: FastAPI, client: TestClient, session: Session, runtime: Runtime, report: Callable[..., Ticket]
) -> None:
    """The API accepts the dashboard cookie (the ticket page shows photos from /api); a write carried only by that
    cookie is held to the dashboard's same-origin rule, so a cross-site form cannot use it."""
    ticket = report()
    writes = [(m, p) for m, p in guarded(app) if p.startswith("/api/") and m in ("POST", "PUT", "PATCH", "DELETE")]
    assert ("POST", "/api/admin/staff/{code}/bind-code") in writes
    client.cookies.set("gridbot_token", token_for(session, runtime, "ADM01"))
    answered = [
        (m, p, r.status_code)
        for m, p in writes
        if (
            r := client.request(
                m,
                concrete(p).replace(SAMPLE["number"], ticket.number),
                headers={"Origin": "https://evil.example"},
                files={"file": ("p.png", io.BytesIO(PNG), "image/png")} if p.endswith("/photos") else None,
            )
        ).status_code
        != 403
    ]
    assert not answered, f"cookie-authenticated cross-site writes were served: {answered}"
    same_site = client.post("/api/admin/staff/GW005/bind-code", headers={"Origin": ORIGIN})
    assert same_site.status_code == 201, same_site.text


# --- Open311: public by design, so only the GeoReport fields and no personal data ------------------------------

GEOREPORT_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
PII_TEXT = "楼道垃圾没人清运，电话138 1234 5678，身份证410105199001011234，我家3号楼2单元502室门口"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_open311_shows_georeport_fields_without_personal_data(
    client: TestClient, session: Session, report: Callable[..., Ticket], resident: Callable[[str], Any], fmt: str
) -> None:
    person = resident("o_secret_openid")
    person.name = "张秀兰"
    session.commit()
    ticket = report(PII_TEXT, openid="o_secret_openid", location_text="幸福小区3号楼2单元502室")
    gw001 = session.scalars(select(Staff).where(Staff.code == "GW001")).one()
    secrets = [
        "张秀兰",
        "o_secret_openid",
        "138 1234 5678",
        "13812345678",
        "410105199001011234",
        "502",
        gw001.code,
        gw001.person.name,
        "13800000001",
    ]
    for path in (f"/open311/v2/requests/{ticket.number}.{fmt}", f"/open311/v2/requests.{fmt}"):
        resp = client.get(path)
        assert resp.status_code == 200
        leaked = [s for s in secrets if s in resp.text]
        assert not leaked, f"{path} shows personal data: {leaked}"
        if fmt == "json":
            [item] = resp.json()
            assert set(item) == GEOREPORT_FIELDS
            assert "138****5678" in item["description"] and "410105********1234" in item["description"]

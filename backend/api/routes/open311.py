"""Open311 GeoReport v2 under /open311/v2: services, service definitions and service requests, JSON or XML.

Follows http://wiki.open311.org/GeoReport_v2: the format is the path suffix (.json / .xml); every error,
including an unknown path under /open311/v2, is a list of {code, description} in the asked format; POST
takes form fields and needs the api_key. Our mapping: a service is a subcategory of the taxonomy (group =
its top-level category; attributes from config/open311.yaml, see backend.services.open311);
service_request_id is the ticket number (a POST answers it at once, so no token; tokens/{id} still answers the
id for clients that ask);
status is "open" until the ticket is closed, cancelled or merged; agency_responsible is the department's
name. Requests are public in the spec: descriptions are masked as log lines are
(backend.logging_setup.mask_pii) and the address is street, community and a road + door number at most
(docs/OPEN311.md).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.api.deps import RuntimeDep, SessionDep
from backend.dashboard.labels import label
from backend.db.models import Area, Category, Department, Ticket
from backend.domain.errors import DomainError
from backend.domain.tickets import OPEN_STATUSES
from backend.logging_setup import mask_pii
from backend.runtime import Runtime
from backend.services.actors import SYSTEM
from backend.services.intake import create_ticket
from backend.services.open311 import Open311Error, extras_for, public_address, request_report
from backend.services.public_media import public_photo, public_photos
from backend.services.queries import TicketFilter, filtered

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/open311/v2", tags=["open311"])

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
MAX_RESULTS = 1000
DEFAULT_WINDOW = timedelta(days=90)
_OPEN = {s.value for s in OPEN_STATUSES}
# The element name of each list item in XML, per list element.
_ITEM = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
SPEC = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-04T00:00:00Z"  # when this endpoint's behaviour last changed (discovery)


def _to_xml(parent: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _to_xml(ET.SubElement(parent, key), item)
    elif isinstance(value, list):
        for item in value:
            _to_xml(ET.SubElement(parent, _ITEM.get(parent.tag, "item")), item)
    elif isinstance(value, bool):
        parent.text = "true" if value else "false"
    elif value is not None:
        parent.text = str(value)


def render(fmt: str, root: str, body: Any, status: int = 200) -> Response:
    """Serialise a response body as JSON or as GeoReport XML under the given root element."""
    if fmt == "xml":
        element = ET.Element(root)
        _to_xml(element, body)
        xml = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(element, encoding="utf-8")
        return Response(xml, status_code=status, media_type=FORMATS["xml"])
    import json

    return Response(json.dumps(body, ensure_ascii=False), status_code=status, media_type=FORMATS["json"])


def _error(fmt: str, exc: Open311Error) -> Response:
    return render(
        fmt if fmt in FORMATS else "json", "errors", [{"code": exc.status, "description": exc.description}], exc.status
    )


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise Open311Error(404, f"unknown format '{fmt}': use .json or .xml")


def _check_jurisdiction(runtime: Runtime, jurisdiction_id: str | None) -> None:
    configured = runtime.settings.open311_jurisdiction
    if configured and jurisdiction_id and jurisdiction_id != configured:
        raise Open311Error(404, f"unknown jurisdiction_id '{jurisdiction_id}'")


def _w3c(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if value else None


def _parse_date(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Open311Error(400, f"{name} is not a W3C date-time: {value}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _service(runtime: Runtime, sub: Category, groups: dict[str, str]) -> dict[str, Any]:
    known = runtime.city.subcategories.get(sub.code)
    return {
        "service_code": sub.code,
        "service_name": sub.name,
        "description": (known.description if known and known.description else sub.name),
        "metadata": bool(extras_for(runtime, sub.code).attributes),
        "type": "realtime",
        "keywords": groups.get(sub.parent_code or "", ""),
        "group": groups.get(sub.parent_code or "", ""),
    }


def _request(
    t: Ticket, cats: dict[str, str], depts: dict[str, str], areas: dict[str, str], media: dict[int, str]
) -> dict[str, Any]:
    street = areas.get(t.street_code or "")
    community = areas.get(t.community_code or "")
    return {
        "service_request_id": t.number,
        "status": "open" if t.status in _OPEN else "closed",
        "status_notes": label("status", t.status),
        "service_name": cats.get(t.category_code or "", ""),
        "service_code": t.category_code or "",
        "description": mask_pii(t.text),
        "agency_responsible": depts.get(t.department_code or "", ""),
        "service_notice": "",
        "requested_datetime": _w3c(t.created_at),
        "updated_datetime": _w3c(t.updated_at),
        "expected_datetime": _w3c(t.due_at),
        "address": public_address(t.location_text, street, community),
        "address_id": t.grid_code or "",
        "zipcode": "",
        "lat": t.lat,
        "long": t.lon,
        "media_url": media.get(t.id, ""),
    }


def _names(session: Session) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    cats = dict(session.execute(select(Category.code, Category.name)).all())
    depts = dict(session.execute(select(Department.code, Department.name)).all())
    areas = dict(session.execute(select(Area.code, Area.name)).all())
    return cats, depts, areas


@router.get("/services.{fmt}")
def list_services(fmt: str, session: SessionDep, runtime: RuntimeDep, jurisdiction_id: str | None = None) -> Response:
    """Every service (subcategory) that requests can be made for."""
    try:
        _check_format(fmt)
        _check_jurisdiction(runtime, jurisdiction_id)
    except Open311Error as exc:
        return _error(fmt, exc)
    rows = session.scalars(select(Category).order_by(Category.code)).all()
    groups = {c.code: c.name for c in rows if c.parent_code is None}
    return render(fmt, "services", [_service(runtime, c, groups) for c in rows if c.parent_code is not None])


@router.get("/services/{service_code}.{fmt}")
def service_definition(
    service_code: str, fmt: str, session: SessionDep, runtime: RuntimeDep, jurisdiction_id: str | None = None
) -> Response:
    """One service's definition: the attributes config/open311.yaml gives it (none: an empty list)."""
    try:
        _check_format(fmt)
        _check_jurisdiction(runtime, jurisdiction_id)
        sub = session.get(Category, service_code)
        if sub is None or sub.parent_code is None:
            raise Open311Error(404, f"unknown service_code '{service_code}'")
    except Open311Error as exc:
        return _error(fmt, exc)
    attributes = [
        {
            "variable": True,
            "code": a.code,
            "datatype": a.datatype,
            "required": a.required,
            "datatype_description": a.datatype_description or None,
            "order": a.order,
            "description": a.description,
            "values": [{"key": v.key, "name": v.name} for v in a.values],
        }
        for a in extras_for(runtime, sub.code).attributes
    ]
    return render(fmt, "service_definition", {"service_code": sub.code, "attributes": attributes})


@router.get("/discovery.{fmt}")
def discovery(fmt: str, request: Request, runtime: RuntimeDep) -> Response:
    """The discovery document: where this GeoReport v2 endpoint is and which formats it speaks."""
    try:
        _check_format(fmt)
    except Open311Error as exc:
        return _error(fmt, exc)
    base = str(request.base_url).rstrip("/") + router.prefix
    body = {
        "changeset": CHANGESET,
        "contact": runtime.settings.open311_contact,
        "key_service": runtime.settings.open311_key_service,
        "endpoints": [
            {
                "specification": SPEC,
                "url": base,
                "changeset": CHANGESET,
                "type": "production" if runtime.settings.env == "production" else "test",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return render(fmt, "discovery", body)


@router.post("/requests.{fmt}")
async def create_request(fmt: str, request: Request, session: SessionDep, runtime: RuntimeDep) -> Response:
    """Create a service request (needs api_key); answers the new service_request_id."""
    try:
        _check_format(fmt)
        items = [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]
        form = dict(items)
        key = form.get("api_key", "")
        expected = runtime.settings.open311_api_key.get_secret_value()
        if not key or not secrets.compare_digest(key.encode(), expected.encode()):
            raise Open311Error(403, "invalid api_key")
        _check_jurisdiction(runtime, form.get("jurisdiction_id"))
        try:
            ticket = create_ticket(session, runtime, request_report(session, runtime, items))
            session.commit()
        except DomainError as exc:
            session.rollback()
            raise Open311Error(400, exc.message) from exc
    except Open311Error as exc:
        return _error(fmt, exc)
    logger.info("open311 request %s created (%s)", ticket.number, ticket.category_code)
    created = {"service_request_id": ticket.number, "service_notice": "", "account_id": None}
    return render(fmt, "service_requests", [created], 201)


@router.get("/tokens/{token}.{fmt}")
def request_id_from_token(
    token: str, fmt: str, session: SessionDep, runtime: RuntimeDep, jurisdiction_id: str | None = None
) -> Response:
    """The service_request_id a POST's token stands for (our tokens are the ids themselves)."""
    try:
        _check_format(fmt)
        _check_jurisdiction(runtime, jurisdiction_id)
        number = session.scalar(select(Ticket.number).where(Ticket.number == token[:32], Ticket.source == "open311"))
        if number is None:
            raise Open311Error(404, f"unknown token '{token[:32]}'")
    except Open311Error as exc:
        return _error(fmt, exc)
    return render(fmt, "service_requests", [{"service_request_id": number, "token": number}])


@router.get("/requests.{fmt}")
def list_requests(
    fmt: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
    jurisdiction_id: str | None = None,
) -> Response:
    """Service requests, newest first: by ids, or by service, status and dates (default: the last 90 days)."""
    try:
        _check_format(fmt)
        _check_jurisdiction(runtime, jurisdiction_id)
        stmt = filtered(SYSTEM, TicketFilter())
        if service_request_id:
            stmt = stmt.where(Ticket.number.in_([s.strip() for s in service_request_id.split(",") if s.strip()]))
        else:
            start, end = _parse_date("start_date", start_date), _parse_date("end_date", end_date)
            if start and end and start > end:
                raise Open311Error(400, "start_date is after end_date")
            if start is None:
                start = (end or runtime.clock.now()) - DEFAULT_WINDOW
            stmt = stmt.where(Ticket.created_at >= start)
            if end is not None:
                stmt = stmt.where(Ticket.created_at <= end)
            if service_code:
                stmt = stmt.where(Ticket.category_code.in_([c.strip() for c in service_code.split(",")]))
            if status:
                wanted = {s.strip() for s in status.split(",")}
                if not wanted <= {"open", "closed"}:
                    raise Open311Error(400, "status must be open or closed")
                if wanted == {"open"}:
                    stmt = stmt.where(Ticket.status.in_(_OPEN))
                elif wanted == {"closed"}:
                    stmt = stmt.where(Ticket.status.not_in(_OPEN))
    except Open311Error as exc:
        return _error(fmt, exc)
    rows = session.scalars(stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(MAX_RESULTS)).all()
    names, media = _names(session), _media(session, runtime, request, rows)
    return render(fmt, "service_requests", [_request(t, *names, media) for t in rows])


@router.get("/requests/{service_request_id}.{fmt}")
def get_request(
    service_request_id: str,
    fmt: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    jurisdiction_id: str | None = None,
) -> Response:
    """One service request (as a one-element list, as the spec says)."""
    try:
        _check_format(fmt)
        _check_jurisdiction(runtime, jurisdiction_id)
        ticket = session.scalar(select(Ticket).where(Ticket.number == service_request_id))
        if ticket is None:
            raise Open311Error(404, f"unknown service_request_id '{service_request_id}'")
    except Open311Error as exc:
        return _error(fmt, exc)
    media = _media(session, runtime, request, [ticket])
    return render(fmt, "service_requests", [_request(ticket, *_names(session), media)])


def _media(session: Session, runtime: Runtime, request: Request, tickets: Sequence[Ticket]) -> dict[int, str]:
    """Ticket id → the absolute URL of its public photo (see backend.services.public_media)."""
    secret = runtime.settings.secret_key.get_secret_value()
    base = str(request.base_url).rstrip("/")
    paths = public_photos(session, [t.id for t in tickets], secret)
    return {tid: f"{base}/open311/v2/media/{path}" for tid, path in paths.items()}


@router.get("/media/{key}")
def media(key: str, session: SessionDep, runtime: RuntimeDep) -> Response:
    """A publishable photo (the finished work), by its signed path; anything else is not found."""
    att = public_photo(session, key[:80], runtime.settings.secret_key.get_secret_value())
    if att is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(
        runtime.settings.upload_dir / att.path,
        media_type=att.content_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=3600"},
    )


@router.api_route("/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
def not_found(rest: str) -> Response:
    """Anything else under /open311/v2: a GeoReport 404 in the format the path asks for."""
    fmt = rest.rpartition(".")[2] if "." in rest else "json"
    return _error(fmt, Open311Error(404, f"no such GeoReport v2 resource: /{rest[:100]}"))

"""Open311 GeoReport v2 under /open311/v2: services, service definitions and service requests, JSON or XML.

Follows http://wiki.open311.org/GeoReport_v2: the format is the path suffix (.json / .xml); errors are a
list of {code, description}; POST takes form fields and needs the api_key. Our mapping: a service is a
subcategory of the taxonomy (group = its top-level category); service_request_id is the ticket number;
status is "open" until the ticket is closed, cancelled or merged; agency_responsible is the department's
name. Requests are public in the spec, so descriptions and addresses are masked as log lines are
(backend.logging_setup.mask_pii: phone and ID numbers, house and room numbers).
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
from backend.dashboard.labels import STATUS
from backend.db.models import Area, Category, Department, Ticket
from backend.domain.errors import DomainError
from backend.domain.tickets import OPEN_STATUSES
from backend.logging_setup import mask_pii
from backend.runtime import Runtime
from backend.services.actors import SYSTEM
from backend.services.intake import ReportIn, create_ticket
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
}


class Open311Error(Exception):
    """An error answered in the GeoReport error format."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


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
    if jurisdiction_id and jurisdiction_id != runtime.settings.open311_jurisdiction:
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


def _service(sub: Category, groups: dict[str, str]) -> dict[str, Any]:
    return {
        "service_code": sub.code,
        "service_name": sub.name,
        "description": sub.name,
        "metadata": False,
        "type": "realtime",
        "keywords": groups.get(sub.parent_code or "", ""),
        "group": groups.get(sub.parent_code or "", ""),
    }


def _request(
    t: Ticket, cats: dict[str, str], depts: dict[str, str], areas: dict[str, str], media: dict[int, str]
) -> dict[str, Any]:
    return {
        "service_request_id": t.number,
        "status": "open" if t.status in _OPEN else "closed",
        "status_notes": STATUS.get(t.status, t.status),
        "service_name": cats.get(t.category_code or "", ""),
        "service_code": t.category_code or "",
        "description": mask_pii(t.text),
        "agency_responsible": depts.get(t.department_code or "", ""),
        "service_notice": "",
        "requested_datetime": _w3c(t.created_at),
        "updated_datetime": _w3c(t.updated_at),
        "expected_datetime": _w3c(t.due_at),
        "address": mask_pii(t.location_text or areas.get(t.area_code or "", "")),
        "address_id": t.area_code or "",
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
    return render(fmt, "services", [_service(c, groups) for c in rows if c.parent_code is not None])


@router.get("/services/{service_code}.{fmt}")
def service_definition(
    service_code: str, fmt: str, session: SessionDep, runtime: RuntimeDep, jurisdiction_id: str | None = None
) -> Response:
    """One service's definition (no extra attributes: every service has metadata=false)."""
    try:
        _check_format(fmt)
        _check_jurisdiction(runtime, jurisdiction_id)
        sub = session.get(Category, service_code)
        if sub is None or sub.parent_code is None:
            raise Open311Error(404, f"unknown service_code '{service_code}'")
    except Open311Error as exc:
        return _error(fmt, exc)
    return render(fmt, "service_definition", {"service_code": sub.code, "attributes": []})


def _float(form: dict[str, str], name: str, low: float, high: float) -> float | None:
    raw = form.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError as exc:
        raise Open311Error(400, f"{name} must be a number") from exc
    if not low <= value <= high:
        raise Open311Error(400, f"{name} out of range")
    return value


@router.post("/requests.{fmt}")
async def create_request(fmt: str, request: Request, session: SessionDep, runtime: RuntimeDep) -> Response:
    """Create a service request (needs api_key); answers the new service_request_id."""
    try:
        _check_format(fmt)
        form = {k: str(v) for k, v in (await request.form()).items()}
        key = form.get("api_key", "")
        expected = runtime.settings.open311_api_key.get_secret_value()
        if not key or not secrets.compare_digest(key.encode(), expected.encode()):
            raise Open311Error(403, "invalid api_key")
        _check_jurisdiction(runtime, form.get("jurisdiction_id"))
        code = form.get("service_code", "")
        if not code:
            raise Open311Error(400, "service_code is required")
        sub = session.get(Category, code)
        if sub is None or sub.parent_code is None:
            raise Open311Error(400, f"unknown service_code '{code}'")
        lat, lon = _float(form, "lat", -90, 90), _float(form, "long", -180, 180)
        if (lat is None) != (lon is None):
            raise Open311Error(400, "lat and long must be given together")
        address, address_id = form.get("address_string") or None, form.get("address_id") or None
        if lat is None and address is None and address_id is None:
            raise Open311Error(400, "a location is required: lat & long, address_string or address_id")
        if address_id is not None and session.get(Area, address_id) is None:
            raise Open311Error(400, f"unknown address_id '{address_id}'")
        description = (form.get("description") or "").strip()
        if not description:
            raise Open311Error(400, "description is required")
        try:
            ticket = create_ticket(
                session,
                runtime,
                ReportIn(
                    text=description,
                    channel="open311",
                    source="open311",
                    lon=lon,
                    lat=lat,
                    location_text=address[:300] if address else None,
                    area_code=address_id,
                    category_code=code,
                ),
            )
            session.commit()
        except DomainError as exc:
            session.rollback()
            raise Open311Error(400, exc.message) from exc
    except Open311Error as exc:
        return _error(fmt, exc)
    logger.info("open311 request %s created (%s)", ticket.number, code)
    return render(
        fmt, "service_requests", [{"service_request_id": ticket.number, "service_notice": "", "account_id": None}], 201
    )


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

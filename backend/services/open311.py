"""Open311 GeoReport v2 service requests as intake reports, and what the public list shows of an address.

A POSTed request becomes a `ReportIn`: the service code is the (confirmed) category, description is optional
unless config/open311.yaml says the service needs one, `attribute[CODE]` answers are checked against the
service definition, written into the ticket text (so every view and export shows them) and may make the
report urgent. The client's contact fields (first/last name, phone, email, device_id) and media_url go into
the submit event's note, which staff views mask and reveal with a reason and retention removes; they are
never published. Coordinates outside every grid of the city are refused instead of making a ticket that sits
in no one's queue.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from backend.cityconfig.open311 import NONE, Attribute, ServiceExtras, open311_extras
from backend.db.models import Area, Category
from backend.runtime import Runtime
from backend.services.intake import ReportIn

MAX_FIELD = {
    "first_name": 50,
    "last_name": 50,
    "phone": 32,
    "email": 254,
    "device_id": 64,
    "account_id": 64,
    "media_url": 500,
}
MAX_ANSWER = 500
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{2,30}$")
_ATTRIBUTE = re.compile(r"^attribute\[([^\]]+)\](\[\])?$")
# Public address: a road and its door number ("建设路12号", "12 Main St") — never a building, unit or room.
_ROAD_NUMBER = re.compile(r"[\u4e00-\u9fa5]{1,12}(?:路|街|大道|大街|巷|胡同)\d{1,5}号")
_ROAD_NUMBER_EN = re.compile(r"\b\d{1,5} [A-Za-z][A-Za-z .'-]{1,40}?\b(?:St|Street|Rd|Road|Ave|Avenue|Blvd|Way|Lane)\b")


class Open311Error(Exception):
    """A request the GeoReport endpoint refuses, with the HTTP status and the description it answers."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def extras_for(runtime: Runtime, service_code: str) -> ServiceExtras:
    """The attributes and description rule config/open311.yaml gives a service (none if unlisted)."""
    return open311_extras(runtime.settings.config_dir).get(service_code, NONE)


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


def _contact_note(form: dict[str, str]) -> str | None:
    for name, limit in MAX_FIELD.items():
        if len(form.get(name, "")) > limit:
            raise Open311Error(400, f"{name} is longer than {limit} characters")
    email, phone, media = form.get("email", "").strip(), form.get("phone", "").strip(), form.get("media_url", "")
    if email and not _EMAIL.match(email):
        raise Open311Error(400, "email is not an e-mail address")
    if phone and not _PHONE.match(phone):
        raise Open311Error(400, "phone is not a telephone number")
    if media and not re.match(r"^https?://[^\s]+$", media.strip()):
        raise Open311Error(400, "media_url must be an http or https URL")
    name = " ".join(p for p in (form.get("first_name", "").strip(), form.get("last_name", "").strip()) if p)
    parts = [
        ("name", name),
        ("phone", phone),
        ("email", email),
        ("device_id", form.get("device_id", "").strip()),
        ("account_id", form.get("account_id", "").strip()),
        ("media_url", media.strip()),
    ]
    lines = [f"{label}: {value}" for label, value in parts if value]
    return "Open311 " + "; ".join(lines) if lines else None


def _answer(attr: Attribute, values: list[str]) -> tuple[Any, str, bool]:
    """Check one attribute's submitted values: (stored value, readable answer, urgent)."""
    if attr.datatype == "multivaluelist":
        chosen = [attr.value(v) for v in values]
        if any(c is None for c in chosen):
            raise Open311Error(400, f"attribute[{attr.code}] must be among {[v.key for v in attr.values]}")
        picked = [c for c in chosen if c is not None]
        return [c.key for c in picked], "、".join(c.name for c in picked), any(c.urgent for c in picked)
    if len(values) > 1:
        raise Open311Error(400, f"attribute[{attr.code}] takes one value")
    raw = values[0].strip()
    if attr.datatype == "singlevaluelist":
        value = attr.value(raw)
        if value is None:
            raise Open311Error(400, f"attribute[{attr.code}] must be one of {[v.key for v in attr.values]}")
        return value.key, value.name, value.urgent
    if len(raw) > MAX_ANSWER:
        raise Open311Error(400, f"attribute[{attr.code}] is longer than {MAX_ANSWER} characters")
    if attr.datatype == "number":
        try:
            float(raw)
        except ValueError as exc:
            raise Open311Error(400, f"attribute[{attr.code}] must be a number") from exc
    if attr.datatype == "datetime":
        try:
            datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError as exc:
            raise Open311Error(400, f"attribute[{attr.code}] must be a W3C date-time") from exc
    return raw, raw, False


def _attributes(extras: ServiceExtras, items: Sequence[tuple[str, str]]) -> tuple[dict[str, Any], list[str], bool]:
    submitted: dict[str, list[str]] = {}
    for key, value in items:
        match = _ATTRIBUTE.match(key)
        if match and value.strip():
            submitted.setdefault(match.group(1), []).append(value)
    known = {a.code: a for a in extras.attributes}
    unknown = sorted(set(submitted) - set(known))
    if unknown:
        raise Open311Error(400, f"attribute[{unknown[0]}] is not an attribute of this service")
    stored: dict[str, Any] = {}
    lines: list[str] = []
    urgent = False
    for attr in extras.attributes:
        values = submitted.get(attr.code)
        if not values:
            if attr.required:
                raise Open311Error(400, f"attribute[{attr.code}] is required")
            continue
        stored[attr.code], readable, hot = _answer(attr, values)
        lines.append(f"【{attr.description}】{readable}")
        urgent = urgent or hot
    return stored, lines, urgent


def request_report(session: Session, runtime: Runtime, items: Sequence[tuple[str, str]]) -> ReportIn:
    """Check a POSTed GeoReport v2 request (form items, repeated keys kept) and make it a report."""
    form = {k: v for k, v in items if not k.endswith("[]")}
    code = form.get("service_code", "")
    if not code:
        raise Open311Error(400, "service_code is required")
    sub = session.get(Category, code)
    if sub is None or sub.parent_code is None:
        raise Open311Error(404, f"unknown service_code '{code}'")
    extras = extras_for(runtime, code)
    lat, lon = _float(form, "lat", -90, 90), _float(form, "long", -180, 180)
    if (lat is None) != (lon is None):
        raise Open311Error(400, "lat and long must be given together")
    address, address_id = (form.get("address_string") or "").strip() or None, form.get("address_id") or None
    if lat is None and address is None and address_id is None:
        raise Open311Error(400, "a location is required: lat & long, address_string or address_id")
    if lat is not None and lon is not None and runtime.grids.locate(lon, lat) is None:
        raise Open311Error(
            400,
            f"lat/long {lat}, {lon} is outside the area this endpoint serves "
            f"({runtime.settings.open311_jurisdiction or 'this city'}): send a location inside the city",
        )
    if address_id is not None and session.get(Area, address_id) is None:
        raise Open311Error(400, f"unknown address_id '{address_id}'")
    description = (form.get("description") or "").strip()
    if not description and extras.description_required:
        raise Open311Error(400, f"description is required for service_code '{code}'")
    stored, lines, urgent = _attributes(extras, items)
    note = _contact_note(form)
    text = "\n".join([description or sub.name, *lines])
    details: dict[str, Any] = {"open311": {"attributes": stored}} if stored else {}
    return ReportIn(
        text=text,
        channel="open311",
        source="open311",
        lon=lon,
        lat=lat,
        location_text=address[:300] if address else None,
        area_code=address_id,
        category_code=code,
        urgent=True if urgent else None,
        note=note,
        details=details,
    )


def public_address(location_text: str | None, street: str | None, community: str | None) -> str:
    """What the public request list shows of where: a road + door number at most, then community and street.

    Most specific first, as GeoReport asks. Never a building, unit or room, a name or a phone: the free text a
    resident typed is not published, only a road-and-number found in it.
    """
    found = None
    if location_text:
        found = _ROAD_NUMBER.search(location_text) or _ROAD_NUMBER_EN.search(location_text)
    parts = [found.group(0) if found else None, community, street]
    return ", ".join(p for p in parts if p)

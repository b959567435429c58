"""Open311 GeoReport v2: every endpoint in JSON and XML, api_key checks and invalid fields."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import select

from backend.db.models import Ticket

BASE = "/open311/v2"
FORMATS = ["json", "xml"]
POINT = {"lat": "34.73925", "long": "113.5895"}


@pytest.fixture
def api_key(runtime) -> str:
    return runtime.settings.open311_api_key.get_secret_value()


def parse(resp) -> list[dict] | dict:
    """A GeoReport body as Python data, whatever the format (lists of items become lists of dicts)."""
    if resp.headers["content-type"].startswith("application/json"):
        return resp.json()
    root = ET.fromstring(resp.content)

    def element(el):
        children = list(el)
        if not children:
            return el.text
        if el.tag in ("services", "service_requests", "errors", "attributes"):
            return [element(c) for c in children]
        return {c.tag: element(c) for c in children}

    return element(root) if list(root) or root.tag != "attributes" else []


@pytest.mark.parametrize("fmt", FORMATS)
def test_services_list_names_every_subcategory_with_spec_fields(client, city, fmt):
    resp = client.get(f"{BASE}/services.{fmt}")
    assert resp.status_code == 200
    services = parse(resp)
    assert {s["service_code"] for s in services} == set(city.subcategories)
    garbage = next(s for s in services if s["service_code"] == "garbage_piling")
    assert garbage["service_name"] == city.subcategories["garbage_piling"].name
    assert garbage["group"] == city.categories[city.subcategories["garbage_piling"].category].name
    assert str(garbage["metadata"]).lower() == "false"
    assert garbage["type"] == "realtime"


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_definition_of_known_and_unknown_service(client, fmt):
    resp = client.get(f"{BASE}/services/garbage_piling.{fmt}")
    assert resp.status_code == 200
    if fmt == "json":
        assert resp.json() == {"service_code": "garbage_piling", "attributes": []}
    else:
        root = ET.fromstring(resp.content)
        assert root.tag == "service_definition" and root.findtext("service_code") == "garbage_piling"
    missing = client.get(f"{BASE}/services/no_such_service.{fmt}")
    assert missing.status_code == 404
    assert parse(missing)[0]["description"].startswith("unknown service_code")


@pytest.mark.parametrize("fmt", FORMATS)
def test_create_request_makes_a_routed_ticket_and_answers_its_id(client, session, api_key, fmt):
    resp = client.post(
        f"{BASE}/requests.{fmt}",
        data={
            "api_key": api_key,
            "service_code": "garbage_piling",
            "description": "建设路上垃圾堆了三天没人清运",
            **POINT,
        },
    )
    assert resp.status_code == 201, resp.text
    [created] = parse(resp)
    number = created["service_request_id"]
    ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
    assert (ticket.source, ticket.channel, ticket.category_code, ticket.grid_code) == (
        "open311",
        "open311",
        "garbage_piling",
        "LC010101",
    )
    assert ticket.status == "dispatched"  # grid and category known: routed straight away


@pytest.mark.parametrize("fmt", FORMATS)
def test_get_request_maps_status_and_agency(client, report, city, fmt):
    ticket = report()
    resp = client.get(f"{BASE}/requests/{ticket.number}.{fmt}")
    assert resp.status_code == 200
    [req] = parse(resp)
    assert req["service_request_id"] == ticket.number
    assert req["status"] == "open"
    assert req["service_code"] == "garbage_piling"
    assert req["agency_responsible"] == city.departments[ticket.department_code].name
    assert float(req["lat"]) == pytest.approx(ticket.lat) and float(req["long"]) == pytest.approx(ticket.lon)
    assert req["requested_datetime"].endswith("Z")
    for field in (
        "status_notes",
        "service_name",
        "description",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "media_url",
        "service_notice",
    ):
        assert field in req


def test_closed_and_cancelled_tickets_are_closed_requests(client, session, report):
    ticket = report()
    ticket.status = "cancelled"
    session.commit()
    [req] = client.get(f"{BASE}/requests/{ticket.number}.json").json()
    assert req["status"] == "closed"


@pytest.mark.parametrize("fmt", FORMATS)
def test_list_requests_filters_by_ids_service_and_status(client, session, report, fmt):
    garbage = report()
    lights = report("路灯坏了晚上很黑", category="street_lights", openid="o_other")
    listed = {r["service_request_id"] for r in parse(client.get(f"{BASE}/requests.{fmt}"))}
    assert {garbage.number, lights.number} <= listed
    by_service = parse(client.get(f"{BASE}/requests.{fmt}", params={"service_code": "street_lights"}))
    assert {r["service_request_id"] for r in by_service} == {lights.number}
    by_id = parse(client.get(f"{BASE}/requests.{fmt}", params={"service_request_id": garbage.number}))
    assert [r["service_request_id"] for r in by_id] == [garbage.number]
    lights.status = "closed"
    session.commit()
    open_ = {r["service_request_id"] for r in parse(client.get(f"{BASE}/requests.{fmt}", params={"status": "open"}))}
    closed = {r["service_request_id"] for r in parse(client.get(f"{BASE}/requests.{fmt}", params={"status": "closed"}))}
    assert garbage.number in open_ and lights.number not in open_
    assert closed == {lights.number}


def test_list_requests_honours_the_date_window(client, report, clock):
    ticket = report()
    later = clock.now().replace(year=clock.now().year + 1).isoformat()
    assert client.get(f"{BASE}/requests.json", params={"start_date": later}).json() == []
    inside = client.get(f"{BASE}/requests.json", params={"end_date": later, "start_date": "2026-01-01T00:00:00Z"})
    assert ticket.number in {r["service_request_id"] for r in inside.json()}


def test_phone_numbers_are_masked_in_public_descriptions(client, report):
    ticket = report("垃圾没人清运，联系我13812345678")
    [req] = client.get(f"{BASE}/requests/{ticket.number}.json").json()
    assert "13812345678" not in req["description"] and "138****5678" in req["description"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key", [None, "", "wrong-key"])
def test_create_request_refuses_a_missing_or_wrong_api_key(client, session, fmt, key):
    before = session.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1))
    data = {"service_code": "garbage_piling", "description": "垃圾", **POINT}
    if key is not None:
        data["api_key"] = key
    resp = client.post(f"{BASE}/requests.{fmt}", data=data)
    assert resp.status_code == 403
    [error] = parse(resp)
    assert int(error["code"]) == 403 and error["description"] == "invalid api_key"
    assert session.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1)) == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"description": "垃圾", **POINT}, "service_code is required"),
        ({"service_code": "garbage_piling", "description": "垃圾"}, "a location is required"),
        (
            {"service_code": "garbage_piling", "description": "垃圾", "lat": "34.7"},
            "lat and long must be given together",
        ),
        (
            {"service_code": "garbage_piling", "description": "垃圾", "lat": "north", "long": "113.5"},
            "lat must be a number",
        ),
        ({"service_code": "garbage_piling", "description": "垃圾", "lat": "95", "long": "113.5"}, "lat out of range"),
        ({"service_code": "elevator", "attribute[trapped]": "no", **POINT}, "description is required"),
        ({"service_code": "garbage_piling", "description": "垃圾", "address_id": "XX"}, "unknown address_id"),
        ({"service_code": "garbage_piling", "description": "垃" * 5000, **POINT}, "描述太长"),
    ],
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_create_request_rejects_invalid_fields_with_400(client, api_key, fields, message, fmt):
    resp = client.post(f"{BASE}/requests.{fmt}", data={"api_key": api_key, **fields})
    assert resp.status_code == 400, resp.text
    [error] = parse(resp)
    assert message in error["description"]


def test_create_request_by_address_string_places_it_by_alias(client, session, api_key):
    resp = client.post(
        f"{BASE}/requests.json",
        data={
            "api_key": api_key,
            "service_code": "garbage_piling",
            "description": "垃圾没人清运",
            "address_string": "怡和花园",
        },
    )
    assert resp.status_code == 201
    number = resp.json()[0]["service_request_id"]
    ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
    assert ticket.grid_code == "LC010101" and ticket.location_text == "怡和花园"


@pytest.mark.parametrize("path", ["/services.csv", "/requests/GB1.html", "/services/garbage_piling.txt"])
def test_unknown_format_is_a_404(client, path):
    resp = client.get(BASE + path)
    assert resp.status_code == 404


def test_unknown_request_and_bad_dates_and_status_are_reported(client):
    assert client.get(f"{BASE}/requests/GB00000000-0000.xml").status_code == 404
    assert client.get(f"{BASE}/requests.json", params={"start_date": "yesterday"}).status_code == 400
    assert client.get(f"{BASE}/requests.json", params={"status": "pending"}).status_code == 400
    assert (
        client.get(f"{BASE}/requests.json", params={"start_date": "2026-02-01", "end_date": "2026-01-01"}).status_code
        == 400
    )


def test_other_jurisdiction_is_refused(client):
    resp = client.get(f"{BASE}/services.json", params={"jurisdiction_id": "elsewhere.example"})
    assert resp.status_code == 404

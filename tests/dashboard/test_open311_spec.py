"""Open311 GeoReport v2 as the spec's own examples and real clients use it: tokens, discovery, attributes,
optional description, contact fields, jurisdiction, places outside the city and errors in the spec's shape.

The POST cases start from the spec's example request (wiki.open311.org/GeoReport_v2, "POST Service Request")
byte for byte and change one field at a time, so each refusal names exactly what this city cannot take.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import urlencode

import pytest
import xmltodict
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api.app import create_app
from backend.dashboard import include_dashboard
from backend.db.models import Ticket, TicketEvent

BASE = "/open311/v2"
FORMATS = ["json", "xml"]
POINT = {"lat": "34.73925", "long": "113.5895"}
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
# The spec's example POST body, unchanged.
SPEC_EXAMPLE = (
    "api_key=xyz&jurisdiction_id=city.gov&service_code=001&lat=37.76524078&long=-122.4212043"
    "&address_string=1234+5th+street&email=smit333%40sfgov.edu&device_id=tt222111&account_id=123456"
    "&first_name=john&last_name=smith&phone=111111111&description=A+large+sinkhole+is+destroying+the+street"
    "&media_url=http%3A%2F%2Ffarm3.static.flickr.com%2F2002%2F2212426634_5ed477a060.jpg"
    "&attribute[WHISPAWN]=123456&attribute[WHISDORN]=COISL001"
)


def body(resp) -> list | dict:
    """A GeoReport body as Python data (XML through xmltodict, lists of one item made lists)."""
    if resp.headers["content-type"].startswith("application/json"):
        return resp.json()
    return xmltodict.parse(resp.content, force_list=("request", "error", "attribute", "value", "endpoint", "format"))


def errors(resp) -> list[dict]:
    data = body(resp)
    return data if isinstance(data, list) else data["errors"]["error"]


def spec_example(**changes: str) -> str:
    """The spec's example body with some fields replaced (None removes one); order and encoding kept."""
    out = []
    for pair in SPEC_EXAMPLE.split("&"):
        key, _, value = pair.partition("=")
        if key in changes:
            if changes[key] is None:
                continue
            value = urlencode({"x": changes[key]})[2:]
        out.append(f"{key}={value}")
    return "&".join(out)


@pytest.fixture
def api_key(runtime) -> str:
    return runtime.settings.open311_api_key.get_secret_value()


@pytest.mark.parametrize("fmt", FORMATS)
def test_spec_example_request_is_refused_field_by_field_in_the_spec_error_shape(client, api_key, fmt):
    steps = [
        ({}, 403, "invalid api_key"),
        ({"api_key": api_key}, 404, "unknown jurisdiction_id 'city.gov'"),
        ({"api_key": api_key, "jurisdiction_id": "demo.gridbot"}, 404, "unknown service_code '001'"),
        (
            {"api_key": api_key, "jurisdiction_id": "demo.gridbot", "service_code": "road_damage"},
            400,
            "is outside the area this endpoint serves",
        ),
        (
            {"api_key": api_key, "jurisdiction_id": "demo.gridbot", "service_code": "road_damage", **POINT},
            400,
            "attribute[WHISDORN] is not an attribute of this service",
        ),
    ]
    for changes, status, message in steps:
        resp = client.post(f"{BASE}/requests.{fmt}", content=spec_example(**changes), headers=FORM)
        assert resp.status_code == status, resp.text
        [error] = errors(resp)
        assert int(error["code"]) == status and message in error["description"]
        if fmt == "xml":
            assert resp.content.startswith(b'<?xml version="1.0" encoding="utf-8"?><errors><error><code>')


@pytest.mark.parametrize("fmt", FORMATS)
def test_spec_example_in_the_city_is_created_and_keeps_every_field(client, session, api_key, fmt):
    data = spec_example(
        api_key=api_key,
        jurisdiction_id="demo.gridbot",
        service_code="road_damage",
        **POINT,
        **{"attribute[WHISPAWN]": None, "attribute[WHISDORN]": None},
    )
    resp = client.post(f"{BASE}/requests.{fmt}", content=data, headers=FORM)
    assert resp.status_code == 201, resp.text
    created = body(resp)
    [item] = created if fmt == "json" else created["service_requests"]["request"]
    assert set(item) == {"service_request_id", "service_notice", "account_id"}  # no token beside an id
    ticket = session.scalars(select(Ticket).where(Ticket.number == item["service_request_id"])).one()
    assert ticket.text == "A large sinkhole is destroying the street"
    assert ticket.location_text == "1234 5th street" and ticket.grid_code == "LC010101"
    submit = session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    ).first()
    assert submit is not None and submit.action == "submit"
    for stored in ("name: john smith", "phone: 111111111", "email: smit333@sfgov.edu", "device_id: tt222111"):
        assert stored in (submit.note or "")
    assert "media_url: http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg" in (submit.note or "")
    public = client.get(f"{BASE}/requests/{ticket.number}.json").json()[0]
    for secret in ("john", "smith", "111111111", "smit333", "tt222111", "flickr"):
        assert secret not in str(public)


def test_description_is_optional_unless_the_service_requires_it(client, session, api_key):
    resp = client.post(f"{BASE}/requests.json", data={"api_key": api_key, "service_code": "garbage_piling", **POINT})
    assert resp.status_code == 201, resp.text
    ticket = session.scalars(select(Ticket).where(Ticket.number == resp.json()[0]["service_request_id"])).one()
    assert ticket.text == "垃圾堆放与清运" and ticket.status == "dispatched"
    refused = client.post(
        f"{BASE}/requests.json",
        data={"api_key": api_key, "service_code": "elevator", "attribute[trapped]": "no", **POINT},
    )
    assert refused.status_code == 400
    assert refused.json() == [{"code": 400, "description": "description is required for service_code 'elevator'"}]


@pytest.mark.parametrize("fmt", FORMATS)
def test_services_with_attributes_have_metadata_and_a_definition(client, fmt):
    services = body(client.get(f"{BASE}/services.{fmt}"))
    services = services if fmt == "json" else services["services"]["service"]
    metadata = {s["service_code"]: str(s["metadata"]).lower() for s in services}
    assert metadata["elevator"] == metadata["manhole_cover"] == metadata["drainage"] == "true"
    assert metadata["garbage_piling"] == "false"
    definition = body(client.get(f"{BASE}/services/elevator.{fmt}"))
    if fmt == "xml":
        definition = definition["service_definition"]
        attrs = definition["attributes"]["attribute"]
        values = attrs[0]["values"]["value"]
    else:
        attrs = definition["attributes"]
        values = attrs[0]["values"]
    assert definition["service_code"] == "elevator"
    assert attrs[0]["code"] == "trapped" and attrs[0]["datatype"] == "singlevaluelist"
    assert str(attrs[0]["required"]).lower() == "true" and str(attrs[0]["variable"]).lower() == "true"
    assert int(attrs[0]["order"]) == 1
    assert [v["key"] for v in values] == ["yes", "no"]


def test_attribute_answers_are_checked_written_into_the_ticket_and_may_make_it_urgent(client, session, api_key):
    post = {"api_key": api_key, "service_code": "elevator", "description": "3号楼电梯停在两层中间", **POINT}
    missing = client.post(f"{BASE}/requests.json", data=post)
    assert missing.json() == [{"code": 400, "description": "attribute[trapped] is required"}]
    wrong = client.post(f"{BASE}/requests.json", data={**post, "attribute[trapped]": "maybe"})
    assert wrong.status_code == 400 and "must be one of ['yes', 'no']" in wrong.json()[0]["description"]
    ok = client.post(f"{BASE}/requests.json", data={**post, "attribute[trapped]": "yes"})
    assert ok.status_code == 201, ok.text
    ticket = session.scalars(select(Ticket).where(Ticket.number == ok.json()[0]["service_request_id"])).one()
    assert ticket.priority == "urgent"
    assert "【是否有人被困在电梯内？】有人被困" in ticket.text
    submit = session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    ).first()
    assert submit is not None and submit.data["open311"] == {"attributes": {"trapped": "yes"}}


def test_multivaluelist_takes_repeated_values(client, session, api_key):
    form = [
        ("api_key", api_key),
        ("service_code", "drainage"),
        ("lat", POINT["lat"]),
        ("long", POINT["long"]),
        ("attribute[kind][]", "blocked"),
        ("attribute[kind][]", "ponding"),
    ]
    resp = client.post(f"{BASE}/requests.json", content=urlencode(form), headers=FORM)
    assert resp.status_code == 201, resp.text
    ticket = session.scalars(select(Ticket).where(Ticket.number == resp.json()[0]["service_request_id"])).one()
    assert "【看到了哪些情况？】下水道堵塞、路面积水" in ticket.text and ticket.priority == "normal"
    bad = urlencode([*form[:4], ("attribute[kind][]", "smoke")])
    assert client.post(f"{BASE}/requests.json", content=bad, headers=FORM).status_code == 400


@pytest.mark.parametrize("fmt", FORMATS)
def test_token_answers_the_request_id_and_an_unknown_token_is_a_georeport_404(client, api_key, fmt):
    created = client.post(
        f"{BASE}/requests.json", data={"api_key": api_key, "service_code": "garbage_piling", **POINT}
    ).json()[0]["service_request_id"]
    resp = client.get(f"{BASE}/tokens/{created}.{fmt}", params={"jurisdiction_id": "demo.gridbot"})
    assert resp.status_code == 200
    data = body(resp)
    [item] = data if fmt == "json" else data["service_requests"]["request"]
    assert item == {"service_request_id": created, "token": created}
    missing = client.get(f"{BASE}/tokens/12345.{fmt}")
    assert missing.status_code == 404
    assert errors(missing) == [{"code": 404 if fmt == "json" else "404", "description": "unknown token '12345'"}]


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_service_code_is_404_everywhere(client, api_key, fmt):
    post = client.post(f"{BASE}/requests.{fmt}", data={"api_key": api_key, "service_code": "nope", **POINT})
    assert post.status_code == 404 and "unknown service_code 'nope'" in errors(post)[0]["description"]
    assert client.get(f"{BASE}/services/nope.{fmt}").status_code == 404


@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery_names_the_endpoint_its_formats_and_changeset(client, fmt):
    resp = client.get(f"{BASE}/discovery.{fmt}")
    assert resp.status_code == 200
    data = body(resp)
    if fmt == "xml":
        data = data["discovery"]
        [endpoint] = data["endpoints"]["endpoint"]
        formats = endpoint["formats"]["format"]
    else:
        [endpoint] = data["endpoints"]
        formats = endpoint["formats"]
    assert data["changeset"] and endpoint["changeset"] == data["changeset"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert set(formats) == {"text/xml", "application/json"}


@pytest.mark.parametrize(("path", "content_type"), [("/nothing.xml", "text/xml"), ("/a/b", "application/json")])
def test_any_other_path_is_a_georeport_404(client, path, content_type):
    resp = client.get(BASE + path)
    assert resp.status_code == 404 and resp.headers["content-type"].startswith(content_type)
    assert int(errors(resp)[0]["code"]) == 404


def test_jurisdiction_is_checked_only_when_configured(runtime, session_factory):
    for configured, asked, status in [
        ("demo.gridbot", "demo.gridbot", 200),
        ("demo.gridbot", "x", 404),
        ("", "x", 200),
    ]:
        settings = runtime.settings.model_copy(update={"open311_jurisdiction": configured})
        app = create_app(dataclasses.replace(runtime, settings=settings), session_factory)
        include_dashboard(app)
        with TestClient(app) as c:
            assert c.get(f"{BASE}/services.json", params={"jurisdiction_id": asked}).status_code == status


@pytest.mark.parametrize("fmt", FORMATS)
def test_contact_fields_are_validated(client, api_key, fmt):
    base = {"api_key": api_key, "service_code": "garbage_piling", **POINT}
    for field, value, message in [
        ("email", "not-an-address", "email is not an e-mail address"),
        ("phone", "call me", "phone is not a telephone number"),
        ("media_url", "javascript:alert(1)", "media_url must be an http or https URL"),
        ("first_name", "x" * 51, "first_name is longer than 50 characters"),
    ]:
        resp = client.post(f"{BASE}/requests.{fmt}", data={**base, field: value})
        assert resp.status_code == 400 and errors(resp)[0]["description"] == message


def test_public_address_is_road_and_number_community_and_street_at_most(client, report):
    ticket = report("垃圾没人清运", location_text="建设路12号怡和花园3号楼2单元502室 张先生 13812345678")
    [req] = client.get(f"{BASE}/requests/{ticket.number}.json").json()
    assert req["address"] == "建设路12号, 丰产路社区, 文化路街道"
    assert req["address_id"] == "LC010101"
    no_road = report("路灯坏了", category="street_lights", openid="o_2", location_text="怡和花园5栋")
    [req] = client.get(f"{BASE}/requests/{no_road.number}.json").json()
    assert req["address"] == "丰产路社区, 文化路街道"

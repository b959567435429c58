"""The staff API: login, RBAC scope (role × endpoint), actions, photos and bad input (4xx, never 500)."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient

from backend.api.app import create_app
from tests.conftest import DEMO_PASSWORD

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
    b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def client(runtime, session_factory):
    app = create_app(runtime, session_factory)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def login(client):
    tokens: dict[str, str] = {}

    def headers(code: str) -> dict[str, str]:
        if code not in tokens:
            resp = client.post("/api/auth/token", data={"username": code, "password": DEMO_PASSWORD})
            assert resp.status_code == 200, resp.text
            tokens[code] = resp.json()["access_token"]
        return {"Authorization": f"Bearer {tokens[code]}"}

    return headers


def test_login_with_wrong_password_is_refused(client):
    resp = client.post("/api/auth/token", data={"username": "GW001", "password": "nope"})
    assert resp.status_code == 401


def test_requests_without_token_are_unauthorised(client):
    assert client.get("/api/tickets").status_code == 401


def test_expired_or_forged_token_is_refused(client):
    assert client.get("/api/tickets", headers={"Authorization": "Bearer abc.def.ghi"}).status_code == 401


# Who sees a garbage ticket in grid LC010101 (community LC0101, street LC01, urban_management)?
VISIBILITY = {
    "GW001": True,  # its gridworker
    "GW002": False,  # another grid's gridworker
    "GL01": True,  # the community's grid leader
    "CD01": True,  # the community dispatcher
    "CD02": False,  # another community's dispatcher
    "SD01": True,  # the street dispatcher
    "SD02": False,  # another street
    "DH12": True,  # urban management handler
    "DH01": False,  # housing handler
    "SUP01": True,
    "ADM01": True,
}


@pytest.mark.parametrize(("code", "sees"), list(VISIBILITY.items()))
def test_rbac_read_list_and_comment_follow_scope(client, login, report, code, sees):
    ticket = report()
    h = login(code)
    listed = {t["number"] for t in client.get("/api/tickets", headers=h, params={"limit": 500}).json()["items"]}
    assert (ticket.number in listed) is sees
    read = client.get(f"/api/tickets/{ticket.number}", headers=h)
    assert read.status_code == (200 if sees else 404)
    note = client.post(f"/api/tickets/{ticket.number}/comments", headers=h, json={"note": "看过了"})
    assert note.status_code == (201 if sees else 404)


def test_gridworker_cannot_read_another_grids_ticket(client, login, report):
    ticket = report()
    assert client.get(f"/api/tickets/{ticket.number}", headers=login("GW002")).status_code == 404


@pytest.mark.parametrize(
    ("code", "status"), [("GW001", 200), ("GL01", 403), ("CD01", 403), ("DH01", 404), ("SUP01", 403), ("ADM01", 403)]
)
def test_only_the_assignee_may_accept(client, login, report, code, status):
    ticket = report()
    resp = client.post(f"/api/tickets/{ticket.number}/actions/accept", headers=login(code), json={})
    assert resp.status_code == status, resp.text


@pytest.mark.parametrize(
    ("code", "status"), [("CD01", 200), ("SD01", 200), ("ADM01", 200), ("GW001", 403), ("DH12", 403), ("CD02", 404)]
)
def test_reassign_is_for_dispatchers_and_admins(client, login, report, code, status):
    ticket = report()
    resp = client.post(f"/api/tickets/{ticket.number}/reassign", headers=login(code), json={"assignee_code": "GW003"})
    assert resp.status_code == status, resp.text


def test_dispatch_through_the_api_names_only_staff_inside_the_dispatchers_scope(client, login, report):
    ticket = report()
    returned = client.post(
        f"/api/tickets/{ticket.number}/actions/return", headers=login("GW001"), json={"reason": "不在本网格"}
    )
    assert returned.status_code == 200, returned.text
    cd = login("CD01")
    url = f"/api/tickets/{ticket.number}/actions/dispatch"
    refused = client.post(url, headers=cd, json={"assignee_code": "GW053"})  # a gridworker of another street
    assert refused.status_code == 403 and "GW053" in refused.text
    assert client.get(f"/api/tickets/{ticket.number}", headers=cd).json()["status"] == "returned"
    done = client.post(url, headers=cd, json={"assignee_code": "GW003"})
    assert done.status_code == 200 and done.json()["assignee"] == "GW003"


@pytest.mark.parametrize(("code", "status"), [("CD01", 200), ("SUP01", 200), ("GW001", 403), ("DH12", 403)])
def test_category_correction_is_for_dispatchers_and_is_recorded(client, login, report, code, status):
    ticket = report()
    resp = client.post(
        f"/api/tickets/{ticket.number}/category", headers=login(code), json={"category_code": "illegal_ads"}
    )
    assert resp.status_code == status, resp.text
    if status == 200:
        assert resp.json()["category_code"] == "illegal_ads"
        timeline = client.get(f"/api/tickets/{ticket.number}", headers=login("ADM01")).json()["timeline"]
        assert timeline[-1]["action"] == "correct_category"


def test_full_loop_through_the_api(client, login, report):
    ticket = report()
    gw, gl = login("GW001"), login("GL01")
    for action in ("accept", "start"):
        assert client.post(f"/api/tickets/{ticket.number}/actions/{action}", headers=gw, json={}).status_code == 200
    up = client.post(
        f"/api/tickets/{ticket.number}/photos", headers=gw, files={"file": ("after.png", io.BytesIO(PNG), "image/png")}
    )
    assert up.status_code == 201, up.text
    assert (
        client.post(f"/api/tickets/{ticket.number}/actions/resolve", headers=gw, json={"reason": "已清运"}).status_code
        == 200
    )
    # 巡办分离: the handler may not verify their own work.
    assert client.post(f"/api/tickets/{ticket.number}/actions/verify", headers=gw, json={}).status_code == 422
    assert client.post(f"/api/tickets/{ticket.number}/actions/verify", headers=gl, json={}).status_code == 200
    detail = client.get(f"/api/tickets/{ticket.number}", headers=gl).json()
    assert detail["status"] == "verified"
    assert [e["action"] for e in detail["timeline"]] == ["submit", "dispatch", "accept", "start", "resolve", "verify"]
    photo = client.get(f"/api/tickets/{ticket.number}/photos/{detail['attachments'][0]['id']}", headers=gl)
    assert photo.status_code == 200 and photo.content == PNG


def test_invalid_transition_is_409_and_changes_nothing(client, login, report):
    ticket = report()
    resp = client.post(f"/api/tickets/{ticket.number}/actions/verify", headers=login("GL01"), json={})
    assert resp.status_code == 409
    assert client.get(f"/api/tickets/{ticket.number}", headers=login("GL01")).json()["status"] == "dispatched"


def test_return_without_reason_is_rejected(client, login, report):
    ticket = report()
    resp = client.post(f"/api/tickets/{ticket.number}/actions/return", headers=login("GW001"), json={})
    assert resp.status_code == 422


def test_a_refusal_carries_its_kind_its_catalogue_key_and_the_chinese_text(client, login, report):
    ticket = report()
    resp = client.post(f"/api/tickets/{ticket.number}/actions/return", headers=login("GW001"), json={})
    assert resp.json() == {
        "detail": "执行 return 需要填写原因 (a reason is required)",
        "error": "guard_failed",
        "key": "error.reason_required",
    }


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"GIF89a" + b"\x00" * 100, 201),
        (b"%PDF-1.4 not a photo", 422),
        (b"", 422),
    ],
)
def test_photo_type_is_sniffed_from_the_bytes(client, login, report, payload, status):
    ticket = report()
    resp = client.post(
        f"/api/tickets/{ticket.number}/photos",
        headers=login("GW001"),
        files={"file": ("x.jpg", io.BytesIO(payload), "image/jpeg")},
    )
    assert resp.status_code == status, resp.text


def test_oversized_photo_is_413(client, login, report, runtime):
    ticket = report()
    big = PNG + b"\x00" * (runtime.settings.upload_max_bytes + 10)
    resp = client.post(
        f"/api/tickets/{ticket.number}/photos",
        headers=login("GW001"),
        files={"file": ("big.png", io.BytesIO(big), "image/png")},
    )
    assert resp.status_code == 413


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": "many"}, {"created_from": "yesterday"}, {"offset": -1}])
def test_bad_query_parameters_are_4xx(client, login, params):
    assert client.get("/api/tickets", headers=login("ADM01"), params=params).status_code == 422


def test_unknown_ticket_and_unknown_action(client, login):
    h = login("ADM01")
    assert client.get("/api/tickets/GB00000000-0000", headers=h).status_code == 404
    assert client.post("/api/tickets/GB00000000-0000/actions/fly", headers=h, json={}).status_code == 422


def test_locate_point_returns_the_grid(client, login):
    resp = client.get("/api/geo/locate", headers=login("GW001"), params={"lon": 113.5895, "lat": 34.73925})
    assert resp.status_code == 200 and resp.json()["grid_code"] == "LC010101"
    assert client.get("/api/geo/locate", headers=login("GW001"), params={"lon": 500, "lat": 0}).status_code == 422


def test_counts_are_scoped(client, login, report):
    report()
    mine = client.get("/api/stats/counts", headers=login("GW001")).json()
    other = client.get("/api/stats/counts", headers=login("GW002")).json()
    assert mine["total"] >= 1
    assert other["total"] == 0


def test_health(client):
    assert client.get("/health").json()["status"] == "ok"


def test_token_expires(client, login, clock, runtime):
    h = login("ADM01")
    assert client.get("/api/tickets", headers=h).status_code == 200
    clock.advance(minutes=runtime.settings.token_ttl_minutes + 1)
    assert client.get("/api/tickets", headers=h).status_code == 401


def test_hotline_operator_registers_a_ticket(client, login):
    resp = client.post(
        "/api/tickets",
        headers=login("CD01"),
        json={"text": "市民来电：建设路路灯不亮", "lon": 113.5895, "lat": 34.73925, "category_code": "street_lights"},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["grid_code"] == "LC010101" and body["department_code"] == "urban_management"
    assert body["status"] == "dispatched" and body["channel"] == "hotline"


@pytest.mark.parametrize(
    "payload",
    [
        {"text": ""},
        {"text": "x", "lon": 999, "lat": 1},
        {"text": "x", "channel": "fax"},
        {"text": "垃圾", "category_code": "no_such_category"},
    ],
)
def test_bad_ticket_creation_is_4xx(client, login, payload):
    resp = client.post("/api/tickets", headers=login("CD01"), json=payload)
    assert 400 <= resp.status_code < 500, resp.text

"""Audited access: staff read contact details masked; revealing them is a reasoned action of those who need
them, recorded and listed for admins; admins erase a resident on request from the dashboard; Open311 never
publishes a resident's photo."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import select

from backend.db.models import Attachment, Person, PrivacyAccess, Ticket
from backend.domain.tickets import Action
from backend.services.public_media import media_token
from backend.services.workflow import perform_action
from tests.conftest import DEMO_PASSWORD

TEXT = "楼道垃圾没人清运，电话13812345678，我家3号楼2单元502室门口"
PLACE = "幸福小区3号楼2单元502室"


@pytest.fixture
def ticket(session, report, resident) -> Ticket:
    """A resident's report in grid LC010101 (GW001's), naming their phone and flat; their phone is on file."""
    made = report(TEXT, openid="o_priv", location_text=PLACE)
    person = session.get(Person, made.reporter_id)
    person.phone, person.home_text = "13812345678", PLACE
    session.commit()
    return made


def _token(client, code: str) -> dict[str, str]:
    resp = client.post("/api/auth/token", data={"username": code, "password": DEMO_PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def test_staff_read_phones_and_house_numbers_masked_by_default(client, dashboard_login, ticket):
    api = client.get(f"/api/tickets/{ticket.number}", headers=_token(client, "GW001")).json()
    assert "13812345678" not in api["text"] and "138****5678" in api["text"]
    assert "502" not in api["location_text"]
    listed = client.get("/api/tickets", headers=_token(client, "CD01")).json()["items"]
    assert all("13812345678" not in item["text"] for item in listed)
    page = dashboard_login("GW001").get(f"/dashboard/tickets/{ticket.number}").text
    assert "13812345678" not in page and "502室" not in page and "138****5678" in page
    export = dashboard_login("CD01").get("/dashboard/export/tickets.csv").text
    assert "13812345678" not in export and "138****5678" in export


def test_a_gridworker_in_scope_reveals_with_a_reason_and_it_is_recorded(client, session, dashboard_login, ticket):
    gw = _token(client, "GW001")
    refused = client.post(f"/api/tickets/{ticket.number}/reveal", headers=gw, json={"reason": "看"})
    assert refused.status_code == 422 and refused.json()["key"] == "error.reveal_needs_reason"
    resp = client.post(f"/api/tickets/{ticket.number}/reveal", headers=gw, json={"reason": "电话联系核实具体楼栋"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"text": TEXT, "location_text": PLACE, "phone": "13812345678", "home": PLACE}
    line = session.scalars(select(PrivacyAccess).where(PrivacyAccess.action == "reveal")).one()
    assert (line.actor_code, line.ticket_id, line.reason) == ("GW001", ticket.id, "电话联系核实具体楼栋")

    page = dashboard_login("GW001").post(
        f"/dashboard/tickets/{ticket.number}/reveal", data={"reason": "上门前电话确认"}
    )
    assert page.status_code == 200 and 'id="revealed-phone">13812345678' in page.text
    log = client.get("/api/admin/privacy-log", headers=_token(client, "ADM01")).json()
    assert [(x["action"], x["actor_code"], x["ticket_number"]) for x in log] == [
        ("reveal", "GW001", ticket.number),
        ("reveal", "GW001", ticket.number),
    ]
    admin_page = dashboard_login("ADM01").get("/dashboard/privacy").text
    assert "上门前电话确认" in admin_page and "电话联系核实具体楼栋" in admin_page


@pytest.mark.parametrize(
    ("code", "status"),
    [("GW002", 404), ("ADM01", 403), ("SUP01", 403), ("CD01", 200), ("DH12", 200)],
)
def test_only_roles_and_areas_that_need_it_may_reveal(client, ticket, code, status):
    resp = client.post(
        f"/api/tickets/{ticket.number}/reveal", headers=_token(client, code), json={"reason": "需要联系反映人"}
    )
    assert resp.status_code == status, resp.text


def test_no_reveal_once_the_ticket_is_finished(client, session, runtime, staff, ticket):
    perform_action(session, runtime, ticket.number, Action.cancel, staff("ADM01"), reason="重复反映")
    session.commit()
    resp = client.post(
        f"/api/tickets/{ticket.number}/reveal", headers=_token(client, "GW001"), json={"reason": "需要联系反映人"}
    )
    assert resp.status_code == 403 and resp.json()["key"] == "error.reveal_not_allowed"


def test_the_privacy_log_is_for_admins_and_supervisors(client, dashboard_login):
    assert client.get("/api/admin/privacy-log", headers=_token(client, "GW001")).status_code == 403
    assert client.get("/api/admin/privacy-log", headers=_token(client, "SUP01")).status_code == 200
    assert dashboard_login("CD01").get("/dashboard/privacy").status_code == 403


def test_an_admin_erases_a_resident_from_the_dashboard_with_a_reason(client, session, dashboard_login, ticket):
    admin = dashboard_login("ADM01")
    no_reason = admin.post("/dashboard/privacy/erase", data={"who": "13812345678", "reason": "x"})
    assert "error=" in no_reason.headers["location"]
    done = admin.post("/dashboard/privacy/erase", data={"who": "13812345678", "reason": "居民来电申请删除 2026-11-23"})
    assert done.status_code == 303 and "msg=" in done.headers["location"]
    session.expire_all()
    erased = session.get(Ticket, ticket.id)
    assert erased.reporter_id is None and erased.contact_withdrawn and "13812345678" not in erased.text
    line = session.scalars(select(PrivacyAccess).where(PrivacyAccess.action == "erase")).one()
    assert (line.actor_code, line.reason) == ("ADM01", "居民来电申请删除 2026-11-23")
    assert dashboard_login("GW001").post("/dashboard/privacy/erase", data={"who": ticket.number, "reason": "居民申请"})
    assert session.scalars(select(PrivacyAccess).where(PrivacyAccess.action == "erase")).all() == [line]


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (8, 8), (10, 120, 10))
    exif = Image.Exif()
    exif[0x010F] = "ACME-PHONE"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (34.0, 44.0, 21.69), 3: "E", 4: (113.0, 35.0, 22.22)})
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_open311_publishes_only_the_finished_work_photo_never_the_residents(client, session, runtime, staff, ticket):
    cd = _token(client, "CD01")
    for stage in ("report", "resolved"):
        up = client.post(
            f"/api/tickets/{ticket.number}/photos?stage={stage}",
            headers=cd,
            files={"file": ("p.jpg", io.BytesIO(_jpeg_with_gps()), "image/jpeg")},
        )
        assert up.status_code == 201, up.text
    stored = [p.read_bytes() for p in runtime.settings.upload_dir.iterdir()]
    assert stored and all(b"ACME-PHONE" not in data and not Image.open(io.BytesIO(data)).getexif() for data in stored)

    [item] = client.get(f"/open311/v2/requests/{ticket.number}.json").json()
    url = item["media_url"]
    assert "/open311/v2/media/" in url
    resolved = client.get(url.split("testserver", 1)[1])
    assert resolved.status_code == 200 and resolved.headers["content-type"] == "image/jpeg"
    att = session.scalars(
        select(Attachment).where(Attachment.ticket_id == ticket.id, Attachment.stage == "report")
    ).one()
    signed = media_token(att.id, att.sha256, runtime.settings.secret_key.get_secret_value())
    assert client.get(f"/open311/v2/media/{att.id}-{signed}").status_code == 404  # even correctly signed
    assert client.get(f"/open311/v2/media/{att.id + 1}-{'0' * 32}").status_code == 404

"""The triage desk (分拨台): unsure or unplaced reports wait for a person, who routes them in one step."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from backend.api.app import create_app
from backend.db.models import CategoryCorrection, Notification, Staff, Ticket
from backend.domain.notifications import NoticeKind
from backend.services.desk import desk_queue, sweep_unowned
from backend.services.intake import ReportIn, create_ticket
from tests.backend.conftest import GRID
from tests.conftest import DEMO_PASSWORD

UNSURE_TEXT = "路灯坏了好几天，晚上黑漆漆的"


@pytest.fixture
def strict(runtime):
    """The runtime with a gate no classifier guess passes: every unconfirmed report goes to a person."""
    settings = runtime.settings.model_copy(
        update={"dispatch_confidence_threshold": 1.0, "low_confidence_threshold": 0.5}
    )
    return dataclasses.replace(runtime, settings=settings)


@pytest.fixture
def client(strict, session_factory):
    with TestClient(create_app(strict, session_factory)) as c:
        yield c


def token(client: TestClient, code: str) -> dict[str, str]:
    resp = client.post("/api/auth/token", data={"username": code, "password": DEMO_PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def submit(session, runtime, resident, *, text=UNSURE_TEXT, lon=113.5895, lat=34.73925, openid="o_desk"):
    person = resident(openid)
    ticket = create_ticket(
        session, runtime, ReportIn(text=text, channel="wechat", reporter_id=person.id, lon=lon, lat=lat)
    )
    session.commit()
    return ticket


def kinds_to(session, ticket, code=None):
    query = select(Notification.kind).where(Notification.ticket_id == ticket.id)
    if code is not None:
        staff = session.scalar(select(Staff).where(Staff.code == code))
        query = query.where(Notification.person_id == staff.person_id)
    return set(session.scalars(query))


def test_an_unsure_report_waits_at_its_communitys_desk_and_the_dispatcher_is_told(session, strict, resident, staff):
    ticket = submit(session, strict, resident)
    assert ticket.status == "submitted" and ticket.assignee_id is None
    assert ticket.desk_since is not None and ticket.desk_reason == "unsure"
    assert ticket.desk_community_code == "LC0101" and ticket.desk_street_code == "LC01"
    assert [e.action for e in ticket.events] == ["submit", "to_desk"]
    assert NoticeKind.desk_new in kinds_to(session, ticket, "CD01")
    assert NoticeKind.dispatched not in kinds_to(session, ticket)  # the resident is not told a guess went out
    assert [t.number for t in desk_queue(session, staff("CD01"))] == [ticket.number]
    assert [t.number for t in desk_queue(session, staff("SD01"))] == [ticket.number]
    assert desk_queue(session, staff("CD02")) == [] and desk_queue(session, staff("GW001")) == []


def test_a_confirmed_category_with_a_place_is_dispatched_at_once(session, strict, report):
    ticket = report(category="garbage_piling")
    assert ticket.status == "dispatched" and ticket.desk_since is None


def test_a_report_without_any_place_goes_to_the_district_desk_where_the_admins_see_it(session, strict, resident, staff):
    ticket = submit(session, strict, resident, text="有人乱扔垃圾没人管", lon=None, lat=None, openid="o_nowhere")
    assert ticket.desk_community_code is None and ticket.desk_street_code is None
    assert NoticeKind.desk_new in kinds_to(session, ticket, "ADM01")
    assert ticket.number in [t.number for t in desk_queue(session, staff("ADM01"))]
    assert ticket.number not in [t.number for t in desk_queue(session, staff("CD01"))]


def test_a_dispatcher_routes_a_desk_report_in_one_step_and_it_is_kept_as_a_correction(
    client, session, strict, resident
):
    ticket = submit(session, strict, resident)
    h = token(client, "CD01")
    listed = client.get("/api/desk", headers=h).json()
    assert [item["number"] for item in listed] == [ticket.number]
    assert listed[0]["desk_reason"] == "unsure" and listed[0]["suggestions"]
    resp = client.post(
        f"/api/desk/{ticket.number}", headers=h, json={"category_code": "garbage_piling", "grid_code": GRID}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "dispatched" and resp.json()["assignee"] == "GW001"
    session.expire_all()
    row = session.scalar(select(Ticket).where(Ticket.number == ticket.number))
    assert row.desk_since is None and row.category_code == "garbage_piling"
    assert [e.action for e in row.events][-2:] == ["triage", "dispatch"]
    correction = session.scalar(select(CategoryCorrection).where(CategoryCorrection.ticket_id == row.id))
    assert correction is not None and correction.new_category == "garbage_piling"
    assert NoticeKind.dispatched in kinds_to(session, row)  # now the resident hears it went out
    assert client.get("/api/desk", headers=h).json() == []
    again = client.post(
        f"/api/desk/{ticket.number}", headers=h, json={"category_code": "garbage_piling", "grid_code": GRID}
    )
    assert again.status_code == 422


@pytest.mark.parametrize(
    ("code", "grid", "status"),
    [
        ("CD02", GRID, 404),  # another community's dispatcher does not see it
        ("CD01", "LC010201", 403),  # a grid outside the dispatcher's community
        ("SUP01", GRID, 403),  # supervisors watch (督办); the state machine lets dispatchers dispatch
        ("GW001", GRID, 403),  # sees its grid's reports, but the desk is for dispatchers
        ("CD01", "NOPE", 404),
    ],
)
def test_desk_decisions_follow_the_same_rules_as_everywhere(client, session, strict, resident, code, grid, status):
    ticket = submit(session, strict, resident)
    resp = client.post(
        f"/api/desk/{ticket.number}",
        headers=token(client, code),
        json={"category_code": "garbage_piling", "grid_code": grid},
    )
    assert resp.status_code == status, resp.text
    session.expire_all()
    assert session.scalar(select(Ticket.status).where(Ticket.number == ticket.number)) == "submitted"


def test_the_sweep_leaves_no_report_without_an_owner(client, session, strict, resident, clock):
    person = resident("o_stray")
    stray = create_ticket(
        session, strict, ReportIn(text="井盖不见了", channel="wechat", reporter_id=person.id), dispatch=False
    )
    session.commit()
    assert sweep_unowned(session, strict) == 0  # younger than the limit: its dialogue may still finish
    clock.advance(seconds=strict.settings.unowned_sweep_seconds + 1)
    assert sweep_unowned(session, strict) == 1
    session.commit()
    assert stray.desk_since is not None and stray.desk_reason == "unowned" and stray.desk_community_code is None
    unowned = session.scalars(
        select(Ticket).where(Ticket.status == "submitted", Ticket.desk_since.is_(None), Ticket.assignee_id.is_(None))
    ).all()
    assert unowned == []
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for s in family.samples
    }
    assert samples[("gridbot_unowned_swept_total", ())] == 1
    assert samples[("gridbot_desk_tickets", (("reason", "unowned"),))] == 1

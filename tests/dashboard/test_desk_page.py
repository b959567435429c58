"""The triage desk in the operations centre: each dispatcher sees their own desk and routes a report in one step."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from backend.db.models import Ticket
from backend.services.intake import ReportIn, create_ticket


@pytest.fixture
def runtime(base_runtime, settings, clock):  # type: ignore[no-untyped-def]
    """A gate no classifier guess passes, so every unconfirmed report waits for a person."""
    strict = settings.model_copy(update={"dispatch_confidence_threshold": 1.0, "low_confidence_threshold": 0.5})
    return dataclasses.replace(base_runtime, settings=strict, clock=clock)


@pytest.fixture
def waiting(session, runtime, resident) -> Ticket:
    person = resident("o_desk_page")
    text = "路灯坏了，晚上黑漆漆的，电话13812345678"
    ticket = create_ticket(
        session, runtime, ReportIn(text=text, channel="wechat", reporter_id=person.id, lon=113.5895, lat=34.73925)
    )
    session.commit()
    return ticket


def test_the_dispatcher_of_the_community_sees_the_report_masked_and_dispatches_it(dashboard_login, session, waiting):
    page = dashboard_login("CD01").get("/dashboard/desk")
    assert page.status_code == 200 and waiting.number in page.text
    assert "13812345678" not in page.text and "分拨台" in page.text
    client = dashboard_login("CD01")
    done = client.post(
        f"/dashboard/desk/{waiting.number}", data={"category_code": "garbage_piling", "grid_code": "LC010101"}
    )
    assert done.status_code == 303 and "msg=" in done.headers["location"]
    session.expire_all()
    ticket = session.scalar(select(Ticket).where(Ticket.number == waiting.number))
    assert ticket.status == "dispatched" and ticket.desk_since is None
    assert waiting.number not in client.get("/dashboard/desk").text


def test_another_communitys_dispatcher_neither_sees_nor_decides_it(dashboard_login, session, waiting):
    other = dashboard_login("CD02")
    assert waiting.number not in other.get("/dashboard/desk").text
    refused = other.post(
        f"/dashboard/desk/{waiting.number}", data={"category_code": "garbage_piling", "grid_code": "LC010101"}
    )
    assert refused.status_code == 303 and "error=" in refused.headers["location"]
    session.expire_all()
    assert session.scalar(select(Ticket.status).where(Ticket.number == waiting.number)) == "submitted"

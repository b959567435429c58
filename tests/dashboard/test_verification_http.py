"""核查不通过 over HTTP: the staff API and the dashboard offer and accept it exactly as chat does."""

from __future__ import annotations

from sqlalchemy import select

from backend.db.models import Ticket
from backend.domain.tickets import Action
from backend.services.workflow import perform_action
from tests.conftest import DEMO_PASSWORD


def _resolved(session, runtime, report, staff) -> Ticket:
    ticket = report()
    gw = staff("GW001")
    for action in (Action.accept, Action.start):
        perform_action(session, runtime, ticket.number, action, gw)
    perform_action(session, runtime, ticket.number, Action.resolve, gw, reason="已清运")
    session.commit()
    return ticket


def _token(client, code: str) -> dict[str, str]:
    resp = client.post("/api/auth/token", data={"username": code, "password": DEMO_PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def test_the_api_offers_the_rejection_to_the_verifier_not_the_handler(client, session, runtime, report, staff):
    ticket = _resolved(session, runtime, report, staff)
    url = f"/api/tickets/{ticket.number}"
    verifier, handler = _token(client, "GL01"), _token(client, "GW001")
    assert "reject_verification" in client.get(url, headers=verifier).json()["allowed_actions"]
    assert "reject_verification" not in client.get(url, headers=handler).json()["allowed_actions"]

    own = client.post(f"{url}/actions/reject_verification", json={"reason": "x"}, headers=handler)
    blank = client.post(f"{url}/actions/reject_verification", json={}, headers=verifier)
    assert (own.status_code, own.json()["key"]) == (422, "error.verifier_is_handler")
    assert (blank.status_code, blank.json()["key"]) == (422, "error.reason_required")
    done = client.post(f"{url}/actions/reject_verification", json={"reason": "没清干净"}, headers=verifier)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "in_progress"


def test_the_dashboard_ticket_page_rejects_with_a_reason(client, dashboard_login, session, runtime, report, staff):
    ticket = _resolved(session, runtime, report, staff)
    c = dashboard_login("GL01")
    assert 'id="do-reject_verification"' in c.get(f"/dashboard/tickets/{ticket.number}").text
    action = f"/dashboard/tickets/{ticket.number}/action"
    refused = c.post(action, data={"action": "reject_verification"})
    assert "error=" in refused.headers["location"]  # the reason is required
    done = c.post(action, data={"action": "reject_verification", "reason": "垃圾桶旁还有垃圾"})
    assert "msg=" in done.headers["location"]
    session.expire_all()
    row = session.scalars(select(Ticket).where(Ticket.number == ticket.number)).one()
    assert (row.status, row.rework_count) == ("in_progress", 1)

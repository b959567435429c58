"""Admins see undeliverable notifications with the reason, and can put them back in the queue."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api.app import create_app
from backend.db.models import Notification
from tests.conftest import DEMO_PASSWORD


@pytest.fixture
def client(runtime, session_factory):
    with TestClient(create_app(runtime, session_factory)) as c:
        yield c


def _auth(client, code):
    token = client.post("/api/auth/token", data={"username": code, "password": DEMO_PASSWORD}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_dead_letters_are_listed_for_admins_and_can_be_requeued(client, session, report):
    ticket = report()
    row = session.scalar(select(Notification).where(Notification.ticket_id == ticket.id).limit(1))
    row.status, row.last_error = "dead", "blocked: the user blocked the bot"
    session.commit()

    assert client.get("/api/admin/dead-letters", headers=_auth(client, "CD01")).status_code == 403
    admin = _auth(client, "ADM01")
    listed = client.get("/api/admin/dead-letters", headers=admin).json()
    assert [(d["id"], d["reason"]) for d in listed] == [(row.id, "blocked: the user blocked the bot")]

    resp = client.post("/api/admin/dead-letters/requeue", headers=admin, json={"ids": [row.id]})
    assert resp.json() == {"requeued": 1}
    session.expire_all()
    assert session.get(Notification, row.id).status == "pending"
    assert client.get("/api/admin/dead-letters", headers=admin).json() == []


def test_requeue_refuses_ids_out_of_range(client):
    admin = _auth(client, "ADM01")
    for ids in ([2**70], [-1], []):
        assert client.post("/api/admin/dead-letters/requeue", headers=admin, json={"ids": ids}).status_code == 422

"""Admins see the inbox's parked messages with their last error and can give them back to the processor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from backend.api.app import create_app
from backend.runtime import Runtime
from backend.usecases import inbox
from tests.conftest import DEMO_PASSWORD


@pytest.fixture
def client(runtime: Runtime, session_factory: sessionmaker[Session]) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, session_factory)) as c:
        yield c


def _auth(client: TestClient, code: str) -> dict[str, str]:
    token = client.post("/api/auth/token", data={"username": code, "password": DEMO_PASSWORD}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_parked_messages_are_listed_for_admins_and_can_be_requeued(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    inbox.store(session_factory, channel="telegram", message_id="9", sender="777", payload={"text": "x"})
    (item,) = inbox.claim(session_factory, worker_id="p", batch_size=5, lease_seconds=30)
    assert inbox.fail(session_factory, item, "KeyError: 'kind'", max_attempts=1, retry_seconds=1.0)

    assert client.get("/api/admin/inbox/parked", headers=_auth(client, "CD01")).status_code == 403
    admin = _auth(client, "ADM01")
    listed = client.get("/api/admin/inbox/parked", headers=admin).json()
    assert [(p["id"], p["channel"], p["sender"], p["error"]) for p in listed] == [
        (item.id, "telegram", "777", "KeyError: 'kind'")
    ]
    resp = client.post("/api/admin/inbox/parked/requeue", headers=admin, json={"ids": [item.id]})
    assert resp.json() == {"requeued": 1}
    assert inbox.status_of(session_factory, "telegram", "9") == "pending"
    assert client.get("/api/admin/inbox/parked", headers=admin).json() == []

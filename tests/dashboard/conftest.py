"""Dashboard test helpers: the app with the dashboard included, and cookie logins."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from backend.api.app import create_app
from backend.dashboard import include_dashboard
from backend.runtime import Runtime
from tests.backend.conftest import report, resident, staff  # noqa: F401  (fixtures shared with the backend tests)
from tests.conftest import DEMO_PASSWORD


@pytest.fixture
def app(runtime: Runtime, session_factory: sessionmaker[Session]) -> FastAPI:
    """The staff API app with the dashboard, Open311 and metrics included."""
    app = create_app(runtime, session_factory)
    if not any(getattr(r, "path", "") == "/metrics" for r in app.routes):
        include_dashboard(app)
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A test client that does not follow redirects (so tests can see them)."""
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture
def dashboard_login(client: TestClient) -> Callable[[str], TestClient]:
    """Log a staff member into the dashboard (sets the cookie on the client)."""

    def login(code: str) -> TestClient:
        client.cookies.clear()
        resp = client.post("/dashboard/login", data={"username": code, "password": DEMO_PASSWORD})
        assert resp.status_code == 303, resp.text
        return client

    return login

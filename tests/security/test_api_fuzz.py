"""A short schemathesis run against our own OpenAPI document: no 5xx, and no rows from rejected input.

The long run (≥ 10,000 cases) is scripts/fuzz_long.py; both use tests/security/fuzzing.py.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from backend.api.app import create_app
from tests.conftest import DEMO_PASSWORD
from tests.security.fuzzing import FuzzReport, bearer, fuzz_app, fuzz_raw, seed_ticket

EXAMPLES_PER_OPERATION = 4


@pytest.fixture
def app(runtime, session_factory):  # type: ignore[no-untyped-def]
    return create_app(runtime, session_factory)


def test_fuzzed_requests_get_no_5xx_and_rejected_ones_create_no_rows(app, session_factory) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app) as client:
        admin = bearer(client, "ADM01", DEMO_PASSWORD)
        number = seed_ticket(client, admin)
    report = fuzz_app(
        app,
        session_factory,
        identities={"anonymous": {}, "ADM01": admin},
        examples_per_operation=EXAMPLES_PER_OPERATION,
        path_parameters={"number": number},
    )
    print(report.summary())
    assert report.cases >= 200
    assert not report.server_errors, report.summary()
    assert not report.leaked_rows, report.summary()
    assert report.statuses.keys() & set(range(200, 300)), "nothing was accepted: the run only exercised rejections"
    assert report.statuses.keys() & set(range(400, 500))


def test_raw_garbage_to_the_login_and_ticket_endpoints_gets_4xx_and_creates_nothing(app, session_factory) -> None:  # type: ignore[no-untyped-def]
    """The raw fuzzer (used for the webhooks, which are outside the OpenAPI document) on endpoints we have now."""
    report = FuzzReport()
    for method, path in (("POST", "/api/auth/token"), ("POST", "/api/tickets")):
        fuzz_raw(app, session_factory, method=method, path=path, examples=40, report=report)
    assert report.cases == 80
    assert not report.findings, report.summary()
    assert set(report.statuses) <= set(range(400, 500))


@pytest.mark.parametrize("params", [{"offset": 2**70}, {"offset": 2**63}, {"limit": 10, "offset": 10**30}])
def test_huge_offset_is_rejected_with_4xx(app, params) -> None:  # type: ignore[no-untyped-def]
    """Found by scripts/fuzz_long.py: an offset beyond a 64-bit integer reached the database and crashed (500)."""
    with TestClient(app, raise_server_exceptions=False) as client:
        resp = client.get("/api/tickets", headers=bearer(client, "ADM01", DEMO_PASSWORD), params=params)
    assert 400 <= resp.status_code < 500, resp.text


def test_huge_photo_id_is_4xx(app) -> None:  # type: ignore[no-untyped-def]
    """The same integer overflow, through a path parameter."""
    with TestClient(app, raise_server_exceptions=False) as client:
        admin = bearer(client, "ADM01", DEMO_PASSWORD)
        number = seed_ticket(client, admin)
        resp = client.get(f"/api/tickets/{number}/photos/{2**70}", headers=admin)
    assert 400 <= resp.status_code < 500, resp.text

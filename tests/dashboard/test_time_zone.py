"""The dashboard shows times in the zone of the settings (GRIDBOT_TIMEZONE), not a hard-coded Asia/Shanghai."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from backend.db.models import Ticket
from backend.settings import Settings
from tests.conftest import START

BERLIN = "Europe/Berlin"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings, with the Berlin zone as if GRIDBOT_TIMEZONE=Europe/Berlin."""
    return settings.model_copy(update={"timezone": BERLIN})


def test_the_ticket_page_and_the_export_show_berlin_time(
    dashboard_login: Callable[[str], TestClient], report: Callable[..., Ticket]
) -> None:
    ticket = report()
    assert ticket.created_at == START  # 02:00 UTC: 03:00 in Berlin (CET), 10:00 in Shanghai
    client = dashboard_login("ADM01")
    page = client.get(f"/dashboard/tickets/{ticket.number}").text
    assert "2026-11-23 03:00" in page and "2026-11-23 10:00" not in page
    rows = list(csv.reader(io.StringIO(client.get("/dashboard/export/tickets.csv").content.decode("utf-8-sig"))))
    assert "2026-11-23 03:00" in rows[1] and "2026-11-23 10:00" not in rows[1]

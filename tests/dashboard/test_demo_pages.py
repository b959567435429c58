"""On first start the demo city has a past: every dashboard page shows it."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from backend.db.models import Ticket
from tests.backend.test_demo_history import make_history


def test_every_page_shows_the_demo_history(session, runtime, dashboard_login):
    make_history(session, runtime, days=14)
    total = session.scalar(select(func.count(Ticket.id)))
    open_number = session.scalar(select(Ticket.number).where(Ticket.status == "in_progress").limit(1))
    c = dashboard_login("ADM01")

    queue = c.get("/dashboard/").text
    assert len(re.findall(r'data-number="', queue)) >= 20

    stats = c.get("/dashboard/stats").text
    kpi = re.search(r'id="kpi-total">(\d+)<', stats)
    assert kpi is not None and int(kpi.group(1)) == total > 50
    for table in ("grid-table", "department-table"):
        rows = stats.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
        assert rows.count("<tr>") > 5, table
    assert "hot-topics" in stats and "badge" in stats.split('id="hot-topics"', 1)[1].split("</div>", 1)[0]

    open_now = session.scalar(select(func.count(Ticket.id)).where(Ticket.status.not_in(("closed", "cancelled"))))
    shown = re.search(r'id="open-total">(\d+)<', c.get("/dashboard/map").text)
    assert shown is not None and int(shown.group(1)) == open_now > 0

    assert open_number is not None and open_number in c.get(f"/dashboard/tickets/{open_number}").text

"""Retention over 100,000 finished tickets: every personal field goes, in one run, well within a minute.

Runs on every database of the suite (SQLite always, PostgreSQL when GRIDBOT_TEST_POSTGRES_URL is set);
pytest-timeout stops the run (not the seeding) at 60 s. bench/retention.py measures the same run.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, or_, select

from backend.db.models import Rating, Ticket, TicketEvent
from backend.services.retention import run_retention
from bench.retention import NAME, PHONE, POLICY, seed_finished_tickets

N = 100_000


@pytest.fixture
def backlog(session, clock):
    """100,000 tickets finished a day past the retention period (seeding is not part of the minute)."""
    seed_finished_tickets(session, N, closed_at=clock.now() - timedelta(days=POLICY.ticket_days + 1))
    session.commit()


@pytest.mark.timeout(60, func_only=True)
@pytest.mark.usefixtures("backlog")
def test_retention_anonymises_100000_finished_tickets_in_one_run(session, clock, tmp_path):
    run = run_retention(session, POLICY, clock.now(), upload_dir=tmp_path)

    assert run.counts["tickets_anonymised"] == N
    mine = Ticket.number.like("RT%")
    left = select(func.count()).select_from(Ticket).where(mine, Ticket.anonymised_at.is_(None))
    assert session.scalar(left) == 0
    leaking = or_(Ticket.text.contains(PHONE), Ticket.location_text.is_not(None), Ticket.reporter_id.is_not(None))
    assert session.scalar(select(func.count()).select_from(Ticket).where(mine, leaking)) == 0
    assert session.scalar(select(func.count()).select_from(TicketEvent).where(TicketEvent.note.contains(PHONE))) == 0
    assert session.scalar(select(func.count()).select_from(Rating).where(Rating.comment.contains(NAME))) == 0
    closed = (
        select(func.count()).select_from(Ticket).where(mine, Ticket.status == "closed", Ticket.closed_at < clock.now())
    )
    assert session.scalar(closed) == N  # what statistics count stays

"""Ticket numbers: per local day from 0001, without gaps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from backend.db.models import TicketCounter
from backend.services.numbering import next_ticket_number

# Days no other test creates tickets on: these tests commit, on the database the session shares.
DAY = datetime(2031, 3, 4, 2, tzinfo=UTC)  # 10:00 in Beijing
NEXT_DAY = datetime(2031, 3, 5, 2, tzinfo=UTC)


def number(session: Session, at: datetime = DAY) -> str:
    return next_ticket_number(session, prefix="GB", now=at, timezone="Asia/Shanghai")


@pytest.fixture
def clean(engine: Engine) -> Iterator[Engine]:
    yield engine
    with Session(engine) as session, session.begin():
        session.execute(delete(TicketCounter).where(TicketCounter.day.in_(["20310304", "20310305"])))


def test_each_day_counts_from_one(clean: Engine) -> None:
    with Session(clean) as session, session.begin():
        taken = [number(session) for _ in range(3)] + [number(session, NEXT_DAY)] + [number(session)]
    assert taken == ["GB20310304-0001", "GB20310304-0002", "GB20310304-0003", "GB20310305-0001", "GB20310304-0004"]


def test_a_rolled_back_report_gives_its_number_back(clean: Engine) -> None:
    with Session(clean) as session, session.begin():
        kept = number(session)
    with Session(clean) as session, session.begin():
        dropped = number(session)
        session.rollback()
    with Session(clean) as session, session.begin():
        after = number(session)
    assert (kept, dropped, after) == ("GB20310304-0001", "GB20310304-0002", "GB20310304-0002")

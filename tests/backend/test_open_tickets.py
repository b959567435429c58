"""The open tickets a report may repeat, read for a whole batch at once and never stale within it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from backend.db.models import Ticket
from backend.runtime import Runtime
from backend.services.intake import ReportIn, create_ticket
from backend.services.open_tickets import CANDIDATES_PER_PAIR, open_tickets
from tests.backend.conftest import GRID

OTHER_GRID = "LC010102"
GARBAGE, FIRE = "garbage_piling", "fire_hazard"


@pytest.fixture
def ticket_reads(engine: Engine) -> Iterator[list[str]]:
    """The SELECTs on the tickets table, as they reach the database."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM tickets" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def numbers(rows: list) -> list[str]:  # type: ignore[type-arg]
    return [row.number for row in rows]


def test_a_batch_reads_the_candidates_of_all_its_pairs_at_its_first_check(
    session: Session, runtime: Runtime, report, ticket_reads: list[str]
) -> None:
    garbage = report()
    fire = report("楼道里堆满了杂物", category=FIRE, openid="o_2", lon=None, lat=None, area_code=OTHER_GRID)
    older = report(openid="o_3")
    ticket_reads.clear()
    batch = {(GRID, GARBAGE), (OTHER_GRID, FIRE), (OTHER_GRID, GARBAGE)}
    assert numbers(open_tickets(session, runtime, GRID, GARBAGE, batch_pairs=batch)) == [older.number, garbage.number]
    # PostgreSQL reads every pair in one statement; SQLite, in-process, one query a pair.
    reads = 1 if session.get_bind().dialect.name == "postgresql" else len(batch)
    assert len(ticket_reads) == reads
    assert numbers(open_tickets(session, runtime, OTHER_GRID, FIRE, batch_pairs=batch)) == [fire.number]
    assert open_tickets(session, runtime, OTHER_GRID, GARBAGE, batch_pairs=batch) == []
    assert len(ticket_reads) == reads
    # A pair the batch did not name is read on its own.
    assert open_tickets(session, runtime, GRID, FIRE, batch_pairs=batch) == []
    assert len(ticket_reads) == reads + 1


def test_each_pair_of_a_batch_gives_its_newest_candidates_however_many_are_open(
    session: Session, runtime: Runtime, report, resident
) -> None:
    reporter = resident("o_many")
    made = [
        create_ticket(
            session,
            runtime,
            ReportIn(
                text=f"垃圾堆了第{n}天",
                channel="wechat",
                reporter_id=reporter.id,
                category_code=GARBAGE,
                area_code=GRID,
            ),
        )
        for n in range(CANDIDATES_PER_PAIR + 5)
    ]
    made[-1].status = "closed"
    fire = report("楼道里堆满了杂物", category=FIRE, openid="o_2", lon=None, lat=None, area_code=OTHER_GRID)
    session.commit()
    batch = {(GRID, GARBAGE), (OTHER_GRID, FIRE)}
    newest_open = [ticket.number for ticket in reversed(made[:-1])][:CANDIDATES_PER_PAIR]
    assert numbers(open_tickets(session, runtime, GRID, GARBAGE, batch_pairs=batch)) == newest_open
    assert numbers(open_tickets(session, runtime, OTHER_GRID, FIRE, batch_pairs=batch)) == [fire.number]


def test_a_ticket_written_in_the_transaction_is_seen_by_the_next_check(
    session: Session, runtime: Runtime, report, resident
) -> None:
    first, reporter = report(), resident("o_9")
    assert numbers(open_tickets(session, runtime, GRID, GARBAGE)) == [first.number]
    # An earlier turn of the same batch (the same transaction) makes a report of the pair, and closes the first.
    report_in = ReportIn(
        text="垃圾又堆起来了", channel="wechat", reporter_id=reporter.id, category_code=GARBAGE, area_code=GRID
    )
    made = create_ticket(session, runtime, report_in)
    assert numbers(open_tickets(session, runtime, GRID, GARBAGE)) == [made.number, first.number]
    session.get(Ticket, first.id).status = "closed"  # type: ignore[union-attr]
    assert numbers(open_tickets(session, runtime, GRID, GARBAGE)) == [made.number]


def test_what_a_transaction_read_goes_with_it(session: Session, runtime: Runtime, report, resident) -> None:
    first, reporter = report(), resident("o_9")
    report_in = ReportIn(
        text="垃圾又堆起来了", channel="wechat", reporter_id=reporter.id, category_code=GARBAGE, area_code=GRID
    )
    create_ticket(session, runtime, report_in)
    assert len(open_tickets(session, runtime, GRID, GARBAGE)) == 2  # read after the new ticket was written
    session.rollback()  # the turn failed: its ticket is gone, and so is what it read
    assert numbers(open_tickets(session, runtime, GRID, GARBAGE)) == [first.number]


def test_what_a_rolled_back_savepoint_read_goes_with_it(session: Session, runtime: Runtime, report, resident) -> None:
    first, reporter = report(), resident("o_9")
    with pytest.raises(RuntimeError), session.begin_nested():  # a turn of a batch, each in a savepoint
        report_in = ReportIn(
            text="垃圾又堆起来了", channel="wechat", reporter_id=reporter.id, category_code=GARBAGE, area_code=GRID
        )
        create_ticket(session, runtime, report_in)
        assert len(open_tickets(session, runtime, GRID, GARBAGE)) == 2
        raise RuntimeError("the turn failed")
    assert numbers(open_tickets(session, runtime, GRID, GARBAGE)) == [first.number]


def test_a_candidate_outside_the_window_or_the_ticket_itself_is_left_out(
    session: Session, runtime: Runtime, report, clock
) -> None:
    old = report()
    clock.advance(hours=runtime.duplicates.window.total_seconds() / 3600 - 1)
    new = report(openid="o_2")
    assert numbers(open_tickets(session, runtime, GRID, GARBAGE)) == [new.number, old.number]
    clock.advance(hours=2)  # the rows kept by this transaction are filtered by each check's own window
    assert numbers(open_tickets(session, runtime, GRID, GARBAGE)) == [new.number]
    assert open_tickets(session, runtime, GRID, GARBAGE, exclude_id=new.id) == []

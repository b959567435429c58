"""Who gets a ticket: the least-loaded handler where there is a choice, the one in scope where there is not."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from backend.db.models import Staff, Ticket
from backend.domain.roles import Tier
from backend.domain.tickets import TicketStatus
from backend.runtime import Runtime
from backend.services.assignment import candidates_remembered, choose_assignee
from tests.backend.conftest import GRID


@pytest.fixture
def load_counts(engine: Engine) -> Iterator[list[str]]:
    """The statements that count tickets, as they reach the database."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "count(" in statement.lower() and "FROM tickets" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def staff_id(session: Session, code: str) -> int:
    found = session.scalar(select(Staff.id).where(Staff.code == code))
    assert found is not None, code
    return found


def give(session: Session, tickets: list[Ticket], code: str, status: TicketStatus) -> None:
    for ticket in tickets:
        ticket.assignee_id = staff_id(session, code)
        ticket.status = status.value
    session.commit()


def housing_handler(session: Session, runtime: Runtime) -> str:
    chosen = choose_assignee(session, runtime, grid_code=GRID, tier=Tier.department, department_code="housing")
    assert chosen is not None
    return chosen.code


def test_the_handler_with_fewer_open_tickets_gets_the_next_one(
    session: Session, runtime: Runtime, report: Callable[..., Ticket]
) -> None:
    # DH01 and DH02 both handle housing; with no open work the lower id comes first.
    assert housing_handler(session, runtime) == "DH01"
    give(session, [report(openid=f"o_a{n}") for n in range(2)], "DH01", TicketStatus.dispatched)
    give(session, [report(openid="o_b0")], "DH02", TicketStatus.in_progress)
    assert housing_handler(session, runtime) == "DH02"
    # Finished work is no load: DH02's closed tickets leave it the lighter one.
    give(session, [report(openid=f"o_c{n}") for n in range(3)], "DH02", TicketStatus.closed)
    assert housing_handler(session, runtime) == "DH02"
    give(session, [report(openid="o_d0")], "DH02", TicketStatus.accepted)
    assert housing_handler(session, runtime) == "DH01"  # 2 against 2: the lower id


def test_an_inactive_handler_is_never_chosen(session: Session, runtime: Runtime) -> None:
    session.scalars(select(Staff).where(Staff.code == "DH01")).one().active = False
    session.commit()
    assert housing_handler(session, runtime) == "DH02"


def test_a_scope_with_one_candidate_is_answered_without_counting_tickets(
    session: Session, runtime: Runtime, report: Callable[..., Ticket], load_counts: list[str]
) -> None:
    give(session, [report(openid=f"o_e{n}") for n in range(3)], "GW001", TicketStatus.dispatched)
    load_counts.clear()
    chosen = choose_assignee(session, runtime, grid_code=GRID, tier=Tier.grid, department_code=None)
    assert chosen is not None and chosen.code == "GW001"
    assert load_counts == []
    housing_handler(session, runtime)
    assert len(load_counts) == 1  # two candidates: their open work is counted, in one statement


def test_a_grid_without_an_active_gridworker_goes_up_the_ladder(session: Session, runtime: Runtime) -> None:
    session.scalars(select(Staff).where(Staff.code == "GW001")).one().active = False
    session.commit()
    chosen = choose_assignee(session, runtime, grid_code=GRID, tier=Tier.grid, department_code=None)
    assert chosen is not None and chosen.code == "GL01"


def test_staff_remembered_in_a_batch_still_share_the_load_and_are_read_again_by_the_next_transaction(
    session: Session, runtime: Runtime, report: Callable[..., Ticket]
) -> None:
    with candidates_remembered():
        assert housing_handler(session, runtime) == "DH01"
        give(session, [report(openid="o_f0")], "DH01", TicketStatus.dispatched)
        assert housing_handler(session, runtime) == "DH02"  # the open tickets are counted at every choice
        session.scalars(select(Staff).where(Staff.code == "DH02")).one().active = False
        session.commit()
        assert housing_handler(session, runtime) == "DH01"

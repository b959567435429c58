"""The staff API offers exactly the moves it accepts, and both follow the domain's rules.

For every staff role and a ticket in each working status, GET /api/tickets/{n} lists `allowed_actions`;
every listed move then succeeds through POST /api/tickets/{n}/actions/{action} (each on a fresh ticket) and
every other move is refused and changes nothing. Chat asks the same question (workflow.available_actions),
so the API refuses what chat would not offer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.api.app import create_app
from backend.db.models import Ticket, TicketEvent
from backend.domain.tickets import Action
from backend.runtime import Runtime
from backend.services.actors import ActorContext
from backend.services.workflow import perform_action, reassign
from tests.security.test_rbac_matrix import ROWS, Row, token_for

# How to bring a freshly dispatched report (assignee GW001) to each status; GW002 checks GW001's work.
PATHS: dict[str, tuple[tuple[Action, str], ...]] = {
    "dispatched": (),
    "in_progress": ((Action.accept, "GW001"), (Action.start, "GW001")),
    "resolved": ((Action.accept, "GW001"), (Action.start, "GW001"), (Action.resolve, "GW001")),
}
BODY = {"reason": "测试", "hours": 4}
REFUSED = (403, 404, 409, 422)


@pytest.fixture
def client(runtime: Runtime, session_factory: object) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, session_factory), follow_redirects=False) as c:  # type: ignore[arg-type]
        yield c


@pytest.fixture
def ticket_in(
    session: Session, runtime: Runtime, report: Callable[..., Ticket], staff: Callable[[str], ActorContext]
) -> Callable[..., Ticket]:
    """A resident's garbage report (a category gridworkers may self-close) brought to a status."""

    def make(status: str, **kw: object) -> Ticket:
        ticket = report(**kw)
        for action, code in PATHS[status]:
            perform_action(session, runtime, ticket.number, action, staff(code), reason="测试")
            session.commit()
        session.refresh(ticket)
        assert ticket.status == status
        return ticket

    return make


def _state(session: Session, number: str) -> tuple[object, ...]:
    session.expire_all()
    ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
    events = session.scalars(select(TicketEvent.id).where(TicketEvent.ticket_id == ticket.id)).all()
    return ticket.status, ticket.tier, ticket.assignee_id, len(events)


SCOPED_ROWS = [row for row in ROWS if row.scope != "assigned"]  # reassigned tickets: test_rbac_matrix


@pytest.mark.parametrize("status", list(PATHS))
@pytest.mark.parametrize("row", SCOPED_ROWS, ids=[r.id for r in SCOPED_ROWS])
def test_the_api_accepts_exactly_the_moves_it_offers(
    client: TestClient,
    session: Session,
    runtime: Runtime,
    ticket_in: Callable[..., Ticket],
    row: Row,
    status: str,
) -> None:
    headers = {"Authorization": f"Bearer {token_for(session, runtime, row.staff)}"}
    ticket = ticket_in(status)
    detail = client.get(f"/api/tickets/{ticket.number}", headers=headers)
    offered = set(detail.json()["allowed_actions"]) if detail.status_code == 200 else set()
    problems = []
    for action in Action:
        number = ticket_in(status).number if action.value in offered else ticket.number
        body = {**BODY, "merge_into": ticket_in("dispatched").number} if action is Action.merge else BODY
        before = _state(session, number)
        answer = client.post(f"/api/tickets/{number}/actions/{action.value}", headers=headers, json=body)
        after = _state(session, number)
        where = f"{row.staff} ({row.role}, {row.scope}) on a {status} ticket"
        if action.value in offered and answer.status_code != 200:
            problems.append(f"{where}: offered {action} but got {answer.status_code} {answer.text[:200]}")
        if action.value not in offered and (answer.status_code not in REFUSED or after != before):
            problems.append(f"{where}: not offered {action} but got {answer.status_code}, {before} → {after}")
    assert not problems, "\n".join(problems)


def _act(client: TestClient, session: Session, runtime: Runtime, code: str, number: str, action: Action) -> int:
    headers = {"Authorization": f"Bearer {token_for(session, runtime, code)}"}
    return client.post(f"/api/tickets/{number}/actions/{action.value}", headers=headers, json=BODY).status_code


def test_a_gridworker_may_not_close_a_residents_report_on_the_spot(
    client: TestClient, session: Session, runtime: Runtime, ticket_in: Callable[..., Ticket]
) -> None:
    """自办自结 is for the gridworker's own patrol finds; a resident's report goes through check and rating."""
    report = ticket_in("in_progress")
    assert _act(client, session, runtime, "GW001", report.number, Action.self_close) == 422
    assert _state(session, report.number)[0] == "in_progress"
    find = ticket_in("in_progress", source="patrol")
    assert _act(client, session, runtime, "GW001", find.number, Action.self_close) == 200
    assert _state(session, find.number)[0] == "closed"


def test_a_gridworker_who_only_checks_the_work_may_not_resolve_it(
    client: TestClient,
    session: Session,
    runtime: Runtime,
    report: Callable[..., Ticket],
    staff: Callable[[str], ActorContext],
) -> None:
    """GW001's grid, but the task went to GW053: GW001 may verify it (巡办分离), never resolve it."""
    ticket = report()
    reassign(session, runtime, ticket.number, staff("ADM01"), assignee_code="GW053")
    for action in (Action.accept, Action.start):
        assert _act(client, session, runtime, "GW053", ticket.number, action) == 200
    assert _act(client, session, runtime, "GW001", ticket.number, Action.resolve) == 403
    assert _state(session, ticket.number)[0] == "in_progress"
    assert _act(client, session, runtime, "GW053", ticket.number, Action.resolve) == 200
    assert _act(client, session, runtime, "GW053", ticket.number, Action.verify) in REFUSED  # not their own work
    assert _act(client, session, runtime, "GW001", ticket.number, Action.verify) == 200

"""The demo history: a realistic past made through the real services, the same for the same seed."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Alarm, CategoryCorrection, Notification, Rating, Ticket, TicketCounter, TicketEvent
from backend.domain.errors import GuardFailed
from backend.runtime import Runtime
from backend.services.demo_history import HISTORY_WORKER, DemoHistory, HistoryPlan, HistorySummary


def make_history(session: Session, runtime: Runtime, *, days: int = 21, seed: int = 18) -> HistorySummary:
    """Run the simulation to the test clock's now, committing each day as `gridbot load-demo` does."""
    history = DemoHistory(session, runtime, HistoryPlan(end=runtime.clock.now(), days=days, per_day=10, seed=seed))
    for _ in history.days():
        session.commit()
    session.commit()
    return history.summary


def fingerprint(session: Session) -> list[tuple[object, ...]]:
    rows = session.execute(
        select(Ticket.number, TicketEvent.action, TicketEvent.at, TicketEvent.to_status)
        .join(TicketEvent, TicketEvent.ticket_id == Ticket.id)
        .order_by(Ticket.number, TicketEvent.id)
    ).all()
    return [tuple(r) for r in rows]


def test_history_covers_states_ratings_reopenings_escalations_and_lights(session, runtime):
    summary = make_history(session, runtime)
    tickets = session.scalars(select(Ticket)).all()
    assert summary.tickets == len(tickets) > 120
    assert summary.refused == {}
    statuses = Counter(t.status for t in tickets)
    assert statuses["closed"] > len(tickets) / 2
    assert len(set(statuses) - {"closed", "cancelled"}) >= 3, statuses
    assert len({t.category_code for t in tickets}) > 20 and len({t.grid_code for t in tickets}) > 20
    assert all(
        t.lon is not None and runtime.grid_of(runtime.grids.locate(t.lon, t.lat)) == t.grid_code for t in tickets
    )
    open_lights = {t.light for t in tickets if t.status not in ("closed", "cancelled")}
    assert "red" in open_lights and "green" in open_lights
    scores = Counter(session.scalars(select(Rating.score)))
    assert scores["satisfied"] > scores["dissatisfied"] > 0
    actions = Counter(session.scalars(select(TicketEvent.action)))
    for action in (
        "self_close",
        "reopen",
        "escalate",
        "reject_verification",
        "light",
        "supervise",
        "cancel",
        "approve_extension",
    ):
        assert actions[action] > 0, action
    first, last = min(t.created_at for t in tickets), max(t.created_at for t in tickets)
    assert last - first > timedelta(days=18)


def test_every_ticket_has_an_unbroken_audit_trail_from_its_report(session, runtime):
    make_history(session, runtime, days=10)
    trail: dict[int, list[TicketEvent]] = defaultdict(list)
    for event in session.scalars(select(TicketEvent).order_by(TicketEvent.id)):
        trail[event.ticket_id].append(event)
    for ticket in session.scalars(select(Ticket)):
        events = trail[ticket.id]
        assert events[0].action == "submit" and events[0].at == ticket.created_at
        for before, after in zip(events, events[1:], strict=False):
            assert after.from_status == before.to_status, (ticket.number, before.action, after.action)
            assert after.at >= before.at
        assert events[-1].to_status == ticket.status
        assert events[-1].at <= runtime.clock.now()


def test_the_past_is_not_sent_again_by_the_worker(session, runtime):
    make_history(session, runtime, days=7)
    statuses = Counter(session.scalars(select(Notification.status)))
    assert statuses == {"sent": sum(statuses.values())} and statuses["sent"] > 0
    assert set(session.scalars(select(Notification.lease_owner))) == {HISTORY_WORKER}


def test_the_same_seed_makes_the_same_history(session, runtime):
    make_history(session, runtime, days=5, seed=7)
    first = fingerprint(session)
    for model in (Rating, Notification, TicketEvent, Alarm, CategoryCorrection, Ticket, TicketCounter):
        session.query(model).delete()
    session.commit()
    assert session.scalar(select(Ticket.id).limit(1)) is None
    make_history(session, runtime, days=5, seed=7)
    assert fingerprint(session) == first and len(first) > 50


def test_history_refuses_a_city_that_already_has_tickets(session, runtime, report):
    report()
    with pytest.raises(GuardFailed):
        next(DemoHistory(session, runtime, HistoryPlan(end=runtime.clock.now(), days=3)).days())

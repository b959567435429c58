"""The statistics rollups: kept current through every move, they give exactly the figures the tickets give."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from backend.dashboard import rollup_stats
from backend.dashboard.stats import compute_statistics
from backend.db.models import CategoryRollup, TicketRollup
from backend.db.rollups import CATEGORY_KEY, KEY, MEASURES, compact, rebuild
from backend.domain.tickets import Action
from backend.services.intake import ReportIn, create_ticket
from backend.services.queries import TicketFilter
from backend.services.workflow import perform_action
from tests.backend.conftest import GRID_POINT
from tests.backend.test_demo_history import make_history


def sums(session, model, key, names):
    out = defaultdict(lambda: [0] * len(names))
    for row in session.execute(select(*[getattr(model, k) for k in key], *[getattr(model, m) for m in names])):
        for i, v in enumerate(row[len(key) :]):
            out[tuple(row[: len(key)])][i] += v
    return {k: v for k, v in out.items() if any(v)}


def without_ratings(rows):
    return {k: v[:-2] for k, v in rows.items() if any(v[:-2])}


def ratings_by_area(rows):
    out = defaultdict(lambda: [0, 0])
    for key, v in rows.items():
        out[key[:5]][0] += v[-2]
        out[key[:5]][1] += v[-1]
    return {k: v for k, v in out.items() if any(v)}


def snapshot(session):
    return sums(session, TicketRollup, KEY, MEASURES), sums(session, CategoryRollup, CATEGORY_KEY, ("n",))


@pytest.fixture
def history(session, runtime):
    make_history(session, runtime, days=12)


def test_the_rollups_kept_by_every_commit_equal_a_rebuild_from_the_tickets(session, runtime, history):
    kept = snapshot(session)
    assert sum(v[0] for v in kept[0].values()) > 50
    rebuild(session)
    rebuilt = snapshot(session)
    # A rating stays in the row of the status its ticket had when rated; a rebuild files it under the status now.
    assert without_ratings(kept[0]) == without_ratings(rebuilt[0])
    assert ratings_by_area(kept[0]) == ratings_by_area(rebuilt[0])
    assert kept[1] == rebuilt[1]


def test_compaction_folds_the_deltas_and_keeps_the_sums(session, runtime, history):
    before = snapshot(session)
    rows = session.scalar(select(func.count(TicketRollup.id)))
    assert compact(session) >= rows
    session.commit()
    assert session.scalar(select(func.count(TicketRollup.id))) < rows
    assert snapshot(session) == before


LOCAL = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("code", ["ADM01", "SUP01", "SD01", "CD01", "GL01", "GW001", "DH01"])
def test_every_role_sees_the_same_statistics_from_the_rollups_as_from_the_tickets(
    session, runtime, staff, history, code
):
    now = runtime.clock.now()
    midnight = datetime.combine(now.astimezone(LOCAL).date(), time(0), LOCAL)
    filters = [
        TicketFilter(),
        TicketFilter(created_from=now - timedelta(days=7)),  # a partial first day
        TicketFilter(created_from=midnight - timedelta(days=6), created_to=midnight - timedelta(hours=30)),
        TicketFilter(department="urban_management"),
        TicketFilter(grid="LC01"),
        TicketFilter(grid="LC0102", created_from=now - timedelta(days=3)),
        TicketFilter(grid="LC010203"),
    ]
    who = staff(code)
    for f in filters:
        assert rollup_stats.plan(session, runtime, who, f) is not None, f
        fast = compute_statistics(session, runtime, who, f)
        slow = compute_statistics(session, runtime, who, f, use_rollups=False)
        assert fast == slow, (code, f)


def test_moves_after_the_history_keep_the_rollups_exact(session, runtime, staff, history, report):
    ticket = report()
    perform_action(session, runtime, ticket.number, Action.accept, staff("GW001"))
    perform_action(session, runtime, ticket.number, Action.escalate, staff("GW001"), reason="需要社区协调")
    session.commit()
    admin = staff("ADM01")
    assert compute_statistics(session, runtime, admin, TicketFilter()) == compute_statistics(
        session, runtime, admin, TicketFilter(), use_rollups=False
    )


def test_filters_the_rollups_do_not_carry_are_read_from_the_tickets(session, runtime, staff):
    admin = staff("ADM01")
    for f in (TicketFilter(status=["closed"]), TicketFilter(category="city_appearance"), TicketFilter(q="垃圾")):
        assert rollup_stats.plan(session, runtime, admin, f) is None


def test_a_field_changed_without_being_loaded_is_read_from_the_database(session, runtime, report):
    from backend.db.models import Ticket

    ticket = report()
    session.expire(ticket, ["light", "status"])
    ticket.light = "red"  # set without loading the old value: the listener reads it from the database
    session.commit()
    kept = snapshot(session)
    rebuild(session)
    assert without_ratings(kept[0]) == without_ratings(snapshot(session)[0])
    assert session.get(Ticket, ticket.id).light == "red"


def test_a_transaction_writes_its_deltas_once_at_commit_without_a_rolled_back_savepoints(session, runtime, resident):
    person = resident("o_rollups")
    session.commit()

    def report() -> None:
        text = "小区门口的垃圾好几天没人清运了"
        where = {"lon": GRID_POINT[0], "lat": GRID_POINT[1], "category_code": "garbage_piling"}
        create_ticket(session, runtime, ReportIn(text=text, channel="wechat", reporter_id=person.id, **where))

    rows = session.scalar(select(func.count(TicketRollup.id)))
    counted = session.scalar(select(func.coalesce(func.sum(TicketRollup.n), 0)))
    report()  # flushed: submitted, then dispatched, in one transaction
    with session.begin_nested():
        report()
    savepoint = session.begin_nested()
    report()
    savepoint.rollback()
    assert session.scalar(select(func.count(TicketRollup.id))) == rows  # nothing written before the commit
    session.commit()
    # The two kept tickets share a key (day, area, department, status): one delta row, counting both.
    assert session.scalar(select(func.count(TicketRollup.id))) == rows + 1
    assert session.scalar(select(func.sum(TicketRollup.n))) == counted + 2
    kept = snapshot(session)
    rebuild(session)
    assert snapshot(session) == kept


def test_a_savepoint_left_open_while_its_transaction_commits_is_reported(session, runtime, resident, caplog):
    person = resident("o_open_savepoint")
    session.commit()
    session.begin_nested()  # never released: committing the transaction itself releases it too late
    text, where = "小区门口的垃圾好几天没人清运了", {"lon": GRID_POINT[0], "lat": GRID_POINT[1]}
    create_ticket(session, runtime, ReportIn(text=text, channel="wechat", reporter_id=person.id, **where))
    transaction = session.get_transaction()
    assert transaction is not None
    transaction.commit()
    assert "rebuild-rollups" in caplog.text

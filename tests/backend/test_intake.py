"""Intake: numbering, classification, placement, routing to department/tier/assignee, SLA, audit, outbox."""

from __future__ import annotations

import json
import re
from dataclasses import asdict

import pytest
from sqlalchemy import func, select

from backend.db.models import Notification, Staff, Ticket, TicketCounter, TicketEvent
from backend.domain.errors import DomainError
from backend.domain.notifications import NoticeKind
from backend.services.intake import (
    MAX_TEXT,
    Assessment,
    Placement,
    ReportIn,
    assess,
    create_ticket,
    likely_duplicate,
)
from tests.backend.conftest import GRID


def test_report_with_pin_is_numbered_routed_and_dispatched_to_the_gridworker(session, report, runtime):
    ticket = report()
    assert re.fullmatch(r"GB20261123-\d{4}", ticket.number)
    assert ticket.grid_code == GRID and ticket.community_code == "LC0101" and ticket.street_code == "LC01"
    assert ticket.department_code == "urban_management" and ticket.tier == "grid"
    assert ticket.status == "dispatched"
    assignee = session.get(Staff, ticket.assignee_id)
    assert assignee.code == "GW001"
    assert ticket.due_at is not None and ticket.due_at > ticket.created_at
    actions = [e.action for e in ticket.events]
    assert actions == ["submit", "dispatch"]
    kinds = set(session.scalars(select(Notification.kind).where(Notification.ticket_id == ticket.id)))
    assert {NoticeKind.dispatched, NoticeKind.task_new} <= kinds


def test_ticket_numbers_are_sequential_per_day(report):
    first, second = report(), report(openid="o_other")
    n1, n2 = int(first.number[-4:]), int(second.number[-4:])
    assert n2 == n1 + 1


def test_place_in_text_routes_by_alias_without_a_pin(session, report, runtime):
    alias = runtime.city.areas["LC010102"].aliases[0].name
    ticket = report(f"{alias}门口垃圾堆成山了", lon=None, lat=None)
    assert ticket.grid_code == "LC010102"
    assert ticket.status == "dispatched"


def test_report_without_place_waits_for_a_dispatcher(session, report):
    ticket = report("垃圾没人收", lon=None, lat=None)
    assert ticket.grid_code is None
    assert ticket.status == "submitted"
    assert ticket.assignee_id is None


def test_urgent_text_sets_urgent_priority_and_shorter_limit(session, report, runtime):
    normal = report("楼道里堆满了杂物", category="fire_hazard")
    urgent = report("楼道里着火了，好大的烟！", category="fire_hazard", openid="o_2")
    assert urgent.priority == "urgent" and normal.priority == "normal"
    assert urgent.due_at < normal.due_at


def test_classifier_picks_category_when_none_given(session, report):
    ticket = report("小区路灯坏了好几天，晚上黑漆漆的看不见路", category=None)
    assert ticket.category_code is not None
    assert ticket.category_confidence is not None and 0 < ticket.category_confidence <= 1


@pytest.mark.parametrize(
    ("text", "reporter", "category"),
    [
        ("   ", "known", None),
        ("长" * (MAX_TEXT + 1), "known", None),
        ("路灯坏了", "unknown", None),
        ("路灯坏了", "known", "no_such_category"),
    ],
    ids=["empty", "too long", "unknown reporter", "unknown category"],
)
def test_a_refused_report_has_written_nothing_not_even_its_number(session, runtime, resident, text, reporter, category):
    # A chat turn adds its report without a savepoint: it relies on every refusal coming before the first write.
    person_id = resident("o_refused").id if reporter == "known" else 999_999
    counters = session.scalar(select(func.sum(TicketCounter.last)))
    report = ReportIn(text=text, channel="wechat", reporter_id=person_id, category_code=category)
    with pytest.raises(DomainError):
        create_ticket(session, runtime, report)
    assert not session.new and not session.dirty
    assert session.scalar(select(func.sum(TicketCounter.last))) == counters
    assert session.scalar(select(func.count(Ticket.id)).where(Ticket.reporter_id == person_id)) == 0


def test_microgrid_pin_keeps_the_area_and_routes_to_the_parent_grid(session, report, runtime):
    micro = runtime.city.areas["LC010101M1"]
    point = micro.geometry.representative_point()
    ticket = report(lon=point.x, lat=point.y)
    assert ticket.area_code == "LC010101M1"
    assert ticket.grid_code == "LC010101"


def test_submit_writes_one_submit_event(session, report):
    ticket = report()
    n = session.scalar(
        select(func.count(TicketEvent.id)).where(TicketEvent.ticket_id == ticket.id, TicketEvent.action == "submit")
    )
    assert n == 1


def test_assessment_json_is_what_asdict_gives_and_reads_back(runtime):
    assessment = assess(runtime, "幸福小区3号楼下水道堵了，污水漫到路上")
    assessment = assessment.with_place(Placement("a1", "g1", "chosen", 1.0))
    assert assessment.to_json() == asdict(assessment)
    assert list(assessment.to_json()) == list(asdict(assessment))
    assert Assessment.from_json(json.loads(json.dumps(assessment.to_json()))) == assessment


def test_a_report_repeats_only_an_open_ticket_opened_inside_the_duplicate_window(session, report, runtime, clock):
    text = "小区门口的垃圾好几天没人清运了，臭得不行"
    old = report(text)
    clock.advance(hours=runtime.duplicates.window.total_seconds() / 3600 + 1)
    assert likely_duplicate(session, runtime, text=text, grid_code=GRID, category_code="garbage_piling") is None
    recent = report(text + "！", openid="o_resident_2")
    clock.advance(hours=1)
    found = likely_duplicate(session, runtime, text=text, grid_code=GRID, category_code="garbage_piling")
    assert found is not None and found.number == recent.number != old.number


def test_every_notice_of_an_urgent_report_names_the_event_it_announces(session, report):
    ticket = report("楼道里着火了，好大的烟！", category="fire_hazard")
    events = {e.id: e.action for e in ticket.events}
    assert sorted(events.values()) == ["alarm", "dispatch", "submit"]
    notices = session.scalars(select(Notification).where(Notification.ticket_id == ticket.id)).all()
    announced = {(events[n.event_id], n.kind) for n in notices}
    assert announced >= {("dispatch", NoticeKind.dispatched), ("dispatch", NoticeKind.task_new)}
    assert ("alarm", NoticeKind.urgent_alarm) in announced
    for notice in notices:
        assert notice.key.startswith(f"t{ticket.id}:e{notice.event_id}:")
    assert len({n.key for n in notices}) == len(notices)

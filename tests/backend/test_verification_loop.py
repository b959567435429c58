"""Closing the loop: a failed check sends the work back (重办), past the reopen limit a 不满意 goes to 督办,
and a category correction re-routes the ticket. Through the real services and database."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from backend.dashboard.stats import compute_statistics
from backend.db.models import Notification, Staff, Ticket, TicketEvent
from backend.domain.errors import GuardFailed
from backend.domain.notifications import NoticeKind
from backend.domain.tickets import Action
from backend.services.corrections import correct_category
from backend.services.feedback import rate
from backend.services.people import resident_actor
from backend.services.queries import TicketFilter
from backend.services.workflow import perform_action


def _notices(session, ticket: Ticket, kind: NoticeKind) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.ticket_id == ticket.id, Notification.kind == kind.value)
            .order_by(Notification.id)
        )
    )


def _person_of(session, code: str) -> int:
    staff = session.scalar(select(Staff).where(Staff.code == code))
    assert staff is not None
    return staff.person_id


def _events(session, ticket: Ticket, action: str) -> list[TicketEvent]:
    return list(
        session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.action == action))
    )


def _work(session, runtime, clock, number: str, staff) -> None:
    """GW001 accepts (when needed), checks in and resolves the ticket."""
    gw = staff("GW001")
    ticket = session.scalar(select(Ticket).where(Ticket.number == number))
    if ticket.status == "dispatched":
        perform_action(session, runtime, number, Action.accept, gw)
    if ticket.status == "accepted":
        perform_action(session, runtime, number, Action.start, gw)
    clock.advance(hours=1)
    perform_action(session, runtime, number, Action.resolve, gw, reason="已清运")
    session.commit()


@pytest.fixture
def rework_runtime(runtime):
    """The runtime with a 4-working-hour limit for a 重办."""
    return dataclasses.replace(runtime, settings=runtime.settings.model_copy(update={"rework_hours": 4.0}))


# -- 4. 核查不通过 → 重办 ----------------------------------------------------------------------------------


def test_a_failed_check_sends_the_work_back_to_its_handler_with_the_reason_and_a_new_clock(
    session, rework_runtime, clock, report, staff
):
    runtime = rework_runtime
    ticket = report()
    _work(session, runtime, clock, ticket.number, staff)
    handler, assignee = ticket.handler_id, ticket.assignee_id
    clock.advance(hours=2)

    perform_action(session, runtime, ticket.number, Action.reject_verification, staff("GL01"), reason="垃圾仍未清运")
    session.commit()

    assert ticket.status == "in_progress"
    assert (ticket.handler_id, ticket.assignee_id, ticket.rework_count) == (handler, assignee, 1)
    now = clock.now()
    assert ticket.clock_started_at == now
    assert ticket.due_at == runtime.calendar.due_at(now, 4.0, urgent=False)
    event = _events(session, ticket, "reject_verification")[0]
    assert (event.from_status, event.to_status, event.note) == ("resolved", "in_progress", "垃圾仍未清运")
    [push] = _notices(session, ticket, NoticeKind.task_rework)
    assert push.person_id == _person_of(session, "GW001")
    assert push.payload["reason"] == "垃圾仍未清运" and push.payload["rework"] == 1
    assert _notices(session, ticket, NoticeKind.resolved) == []  # the resident is not told yet


def test_the_resident_hears_resolved_only_when_a_check_passes(session, runtime, clock, report, staff):
    ticket = report()
    _work(session, runtime, clock, ticket.number, staff)
    perform_action(session, runtime, ticket.number, Action.reject_verification, staff("GL01"), reason="没清干净")
    session.commit()
    assert _notices(session, ticket, NoticeKind.resolved) == []

    _work(session, runtime, clock, ticket.number, staff)
    perform_action(session, runtime, ticket.number, Action.verify, staff("GL01"))
    session.commit()

    assert ticket.status == "verified" and ticket.rework_count == 1
    assert len(_notices(session, ticket, NoticeKind.resolved)) == 1
    assert len(_notices(session, ticket, NoticeKind.verify_request)) == 2


def test_without_a_rework_setting_the_category_time_limit_starts_again(session, runtime, clock, report, staff):
    ticket = report()  # garbage_piling: 8 working hours
    _work(session, runtime, clock, ticket.number, staff)
    perform_action(session, runtime, ticket.number, Action.reject_verification, staff("GL01"), reason="没清干净")
    assert ticket.due_at == runtime.calendar.due_at(clock.now(), 8.0, urgent=False)


def test_the_handler_may_not_fail_their_own_work_and_a_reason_is_required(session, runtime, clock, report, staff):
    ticket = report()
    _work(session, runtime, clock, ticket.number, staff)
    with pytest.raises(GuardFailed):
        perform_action(session, runtime, ticket.number, Action.reject_verification, staff("GW001"), reason="x")
    with pytest.raises(GuardFailed):
        perform_action(session, runtime, ticket.number, Action.reject_verification, staff("GL01"), reason="  ")
    assert ticket.status == "resolved"


def test_reworks_count_in_the_assessment(session, runtime, clock, report, staff):
    ticket = report()
    for _ in range(2):
        _work(session, runtime, clock, ticket.number, staff)
        perform_action(session, runtime, ticket.number, Action.reject_verification, staff("GL01"), reason="没清干净")
        session.commit()
    report(openid="o_other")
    stats = compute_statistics(session, runtime, staff("ADM01"), TicketFilter())
    assert stats.reworks == 2
    [grid] = [row for row in stats.grid_table if row.code == ticket.grid_code]
    assert grid.reworks == 2


# -- 5. past the reopen limit → 督办 -----------------------------------------------------------------------


def _verify_and_rate(session, runtime, clock, number: str, staff, person, score: str) -> Ticket:
    _work(session, runtime, clock, number, staff)
    perform_action(session, runtime, number, Action.verify, staff("GL01"))
    session.commit()
    clock.advance(minutes=5)
    ticket = rate(session, runtime, number, resident_actor(person), score=score, comment="还是没弄好")
    session.commit()
    return ticket


def test_past_the_reopen_limit_not_fixed_goes_to_the_supervisor_instead_of_closing(
    session, runtime, clock, report, staff, resident
):
    ticket = report()
    person = resident("o_resident_1")
    for round_ in range(runtime.settings.reopen_limit):
        _verify_and_rate(session, runtime, clock, ticket.number, staff, person, "dissatisfied")
        assert (ticket.status, ticket.reopen_count) == ("dispatched", round_ + 1)

    _verify_and_rate(session, runtime, clock, ticket.number, staff, person, "dissatisfied")

    assert ticket.status == "dispatched" and ticket.closed_at is None
    assert ticket.tier == "street" and ticket.reopen_count == runtime.settings.reopen_limit
    assert ticket.assignee_id == session.scalar(select(Staff.id).where(Staff.code == "SD01"))
    event = _events(session, ticket, "escalate_to_supervisor")[0]
    assert (event.from_status, event.data["to_tier"], event.data["assignee"]) == ("verified", "street", "SD01")
    supervised = _notices(session, ticket, NoticeKind.supervise)
    assert [n.person_id for n in supervised] == [_person_of(session, "SUP01")]
    assert supervised[0].payload["reason"] == "还是没弄好"
    [told] = _notices(session, ticket, NoticeKind.supervised)
    assert told.person_id == person.id and told.payload["tier"] == "street"
    assert _notices(session, ticket, NoticeKind.task_reopened)[-1].person_id == _person_of(session, "SD01")


def test_under_the_limit_not_fixed_still_reopens(session, runtime, clock, report, staff, resident):
    ticket = report()
    _verify_and_rate(session, runtime, clock, ticket.number, staff, resident("o_resident_1"), "dissatisfied")
    assert (ticket.status, ticket.tier, ticket.reopen_count) == ("dispatched", "grid", 1)
    assert _events(session, ticket, "escalate_to_supervisor") == []


# -- 6. a correction re-routes ----------------------------------------------------------------------------


def test_a_corrected_category_re_routes_to_the_new_department_with_a_new_clock(session, runtime, clock, report, staff):
    ticket = report()  # garbage_piling → GW001, grid tier, urban_management
    gw001 = ticket.assignee_id
    clock.advance(hours=1)

    correct_category(session, runtime, ticket.number, staff("CD01"), category_code="road_damage")
    session.commit()

    new = session.get(Staff, ticket.assignee_id)
    assert new is not None and (new.role, new.scope_code) == ("department_handler", "housing")
    assert (ticket.department_code, ticket.tier, ticket.status) == ("housing", "department", "dispatched")
    assert ticket.due_at == runtime.calendar.due_at(clock.now(), 24.0, urgent=False)
    [withdrawn] = _notices(session, ticket, NoticeKind.task_withdrawn)
    assert withdrawn.person_id == session.get(Staff, gw001).person_id
    assert _notices(session, ticket, NoticeKind.task_new)[-1].person_id == new.person_id
    [corrected] = _events(session, ticket, "correct_category")
    assert corrected.data == {
        "from": "garbage_piling",
        "to": "road_damage",
        "from_department": "urban_management",
        "to_department": "housing",
        "from_tier": "grid",
        "to_tier": "department",
    }
    [rerouted] = _events(session, ticket, "reroute")
    assert (rerouted.data["from_assignee"], rerouted.data["assignee"]) == ("GW001", new.code)


def test_a_correction_of_an_accepted_ticket_hands_it_to_the_new_owner_to_accept(session, runtime, clock, report, staff):
    ticket = report()
    perform_action(session, runtime, ticket.number, Action.accept, staff("GW001"))
    correct_category(session, runtime, ticket.number, staff("CD01"), category_code="building_leak")
    session.commit()
    assert (ticket.status, ticket.handler_id, ticket.tier, ticket.department_code) == (
        "dispatched",
        None,
        "community",
        "housing",
    )
    assert [e.action for e in ticket.events][-2:] == ["correct_category", "reroute"]


def test_a_correction_within_the_same_department_and_tier_keeps_the_assignee(session, runtime, report, staff):
    ticket = report()
    assignee = ticket.assignee_id
    correct_category(session, runtime, ticket.number, staff("CD01"), category_code="illegal_ads")
    session.commit()
    assert (ticket.category_code, ticket.assignee_id, ticket.status) == ("illegal_ads", assignee, "dispatched")
    assert _events(session, ticket, "reroute") == []
    assert _notices(session, ticket, NoticeKind.task_withdrawn) == []

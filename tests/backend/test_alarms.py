"""Urgent means a person now: the alarm reaches the area's dispatchers at once, climbs while unacknowledged,
and an acknowledgement (who, when) stops it."""

from __future__ import annotations

from sqlalchemy import select

from backend.db.models import Alarm, Notification, Staff, Ticket
from backend.domain.errors import PermissionDenied
from backend.domain.notifications import NoticeKind
from backend.services.alarms import acknowledge, escalate_unacknowledged, open_alarms
from backend.services.intake import ReportIn, create_ticket

GAS = "楼道里闻到很浓的煤气味，好像在漏气"


def alarm_notices(session, ticket) -> list[str]:
    rows = session.execute(
        select(Staff.code)
        .join(Notification, Notification.person_id == Staff.person_id)
        .where(Notification.ticket_id == ticket.id, Notification.kind == NoticeKind.urgent_alarm.value)
        .order_by(Notification.id)
    ).all()
    return [code for (code,) in rows]


def urgent(session, runtime, resident, *, lon=113.5895, lat=34.73925) -> Ticket:
    person = resident("o_gas")
    ticket = create_ticket(
        session, runtime, ReportIn(text=GAS, channel="wechat", reporter_id=person.id, lon=lon, lat=lat)
    )
    session.commit()
    return ticket


def test_an_urgent_report_alarms_its_communitys_dispatcher_in_the_same_transaction(session, runtime, resident, staff):
    ticket = urgent(session, runtime, resident)
    assert ticket.priority == "urgent"
    assert alarm_notices(session, ticket) == ["CD01"]
    alarm = session.scalar(select(Alarm).where(Alarm.ticket_id == ticket.id))
    assert (alarm.level, alarm.area_code, alarm.acked_at) == ("community", "LC0101", None)
    assert [t.number for _, t in open_alarms(session, staff("CD01"))] == [ticket.number]
    assert open_alarms(session, staff("CD02")) == []
    assert [t.number for _, t in open_alarms(session, staff("ADM01"))] == [ticket.number]


def test_without_a_place_the_district_is_alarmed(session, runtime, resident):
    ticket = urgent(session, runtime, resident, lon=None, lat=None)
    assert set(alarm_notices(session, ticket)) == {"ADM01", "SUP01"}


def test_an_acknowledgement_is_recorded_and_stops_the_climb(session, runtime, resident, staff, clock):
    ticket = urgent(session, runtime, resident)
    clock.advance(seconds=40)
    alarm = acknowledge(session, runtime, ticket.number, staff("CD01"))
    session.commit()
    assert alarm.acked_by == session.scalar(select(Staff.id).where(Staff.code == "CD01"))
    event = [e for e in ticket.events if e.action == "alarm_ack"][-1]
    assert event.data["after_s"] == 40
    clock.advance(minutes=runtime.settings.alarm_ack_minutes + 1)
    assert escalate_unacknowledged(session, runtime) == 0


def test_nobody_acknowledges_so_it_climbs_to_the_street_then_the_district(session, runtime, resident, clock):
    ticket = urgent(session, runtime, resident)
    clock.advance(minutes=runtime.settings.alarm_ack_minutes - 1)
    assert escalate_unacknowledged(session, runtime) == 0
    clock.advance(minutes=2)
    assert escalate_unacknowledged(session, runtime) == 1
    session.commit()
    assert alarm_notices(session, ticket) == ["CD01", "SD01"]
    clock.advance(minutes=runtime.settings.alarm_ack_minutes + 1)
    assert escalate_unacknowledged(session, runtime) == 1
    session.commit()
    assert set(alarm_notices(session, ticket)[2:]) == {"ADM01", "SUP01"}
    assert [e.action for e in ticket.events].count("alarm_escalate") == 2


def test_only_those_it_was_sent_to_may_acknowledge(session, runtime, resident, staff):
    ticket = urgent(session, runtime, resident)
    for code in ("CD02", "GW001", "SD02"):
        try:
            acknowledge(session, runtime, ticket.number, staff(code))
        except PermissionDenied:
            session.rollback()
        else:
            raise AssertionError(f"{code} acknowledged another area's alarm")
    acknowledge(session, runtime, ticket.number, staff("SD01"))  # the street above the community may

"""The urgent-alarm banner: every page of the dispatchers of the area polls it; it stays until acknowledged."""

from __future__ import annotations

from sqlalchemy import select

from backend.db.models import Alarm
from backend.services.intake import ReportIn, create_ticket


def test_the_banner_shows_the_alarm_until_a_dispatcher_acknowledges_it(dashboard_login, session, runtime, resident):
    person = resident("o_fire")
    ticket = create_ticket(
        session,
        runtime,
        ReportIn(text="楼道里着火了，好大的烟！", channel="wechat", reporter_id=person.id, lon=113.5895, lat=34.73925),
    )
    session.commit()
    client = dashboard_login("CD01")
    assert 'id="alarm-banner"' in client.get("/dashboard/").text
    banner = client.get("/dashboard/alarms/banner").text
    assert ticket.number in banner and "data-alarm" in banner
    assert ticket.number not in dashboard_login("CD02").get("/dashboard/alarms/banner").text
    client = dashboard_login("CD01")
    done = client.post(f"/dashboard/alarms/{ticket.number}/ack")
    assert done.status_code == 303 and done.headers["location"].startswith(f"/dashboard/tickets/{ticket.number}?msg=")
    assert ticket.number not in client.get("/dashboard/alarms/banner").text
    session.expire_all()
    assert session.scalar(select(Alarm.acked_at).where(Alarm.ticket_id == ticket.id)) is not None

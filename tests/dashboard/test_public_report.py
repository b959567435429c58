"""向群众汇报: the public page per area (no login, no personal data) and the weekly push to subscribers."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from backend.db.models import Notification, ReportSubscription, Ticket
from backend.services.erasure import erase_resident
from backend.services.people import resident_actor
from backend.services.public_report import build_report, period_before, queue_public_reports, subscribe, unsubscribe
from tests.backend.test_demo_history import make_history

COMMUNITY = "LC0101"


def test_the_public_page_shows_the_weeks_figures_without_a_login(session, runtime, client):
    make_history(session, runtime, days=10)
    zone = ZoneInfo(runtime.settings.timezone)
    start, end = period_before(runtime.clock.now(), runtime.settings.timezone)
    reported = session.scalar(
        select(func.count(Ticket.id)).where(
            Ticket.community_code == COMMUNITY,
            Ticket.created_at >= datetime.combine(start, time(0), zone),
            Ticket.created_at < datetime.combine(end + timedelta(days=1), time(0), zone),
        )
    )
    assert reported > 0
    page = client.get(f"/public/reports/{COMMUNITY}")
    assert page.status_code == 200
    assert f'id="reported">{reported}<' in page.text and "丰产路社区" in page.text and "热点问题" in page.text
    assert "GB" not in page.text  # no ticket numbers, texts or people: counts only
    english = client.get(f"/public/reports/{COMMUNITY}?lang=en").text
    assert "Residents satisfied" in english and "Hot issues" in english
    assert "/public/reports/LC?lang=en" in client.get("/public/reports").text  # the choice is remembered
    index = client.get("/public/reports?lang=zh").text
    assert "/public/reports/LC?lang=zh" in index and f"/public/reports/{COMMUNITY}?lang=zh" in index
    assert client.get("/public/reports/LC010101").status_code == 404  # grids have no public report
    assert client.get("/public/reports/NOWHERE").status_code == 404


def test_each_subscriber_gets_one_report_a_week_in_their_channel(session, runtime, report, resident, clock):
    ticket = report(openid="o_sub")
    person = resident("o_sub")
    assert subscribe(session, runtime, person.id, "wechat") == ticket.community_code
    session.commit()
    clock.advance(days=1)
    assert queue_public_reports(session, runtime, clock.now()) == 1
    assert queue_public_reports(session, runtime, clock.now() + timedelta(hours=5)) == 0
    row = session.scalars(select(Notification).where(Notification.kind == "public_report")).one()
    assert (
        row.channel == "wechat" and row.payload["reported"] == 1 and row.payload["area_code"] == ticket.community_code
    )
    clock.advance(days=7)
    assert queue_public_reports(session, runtime, clock.now()) == 1  # the next week
    assert unsubscribe(session, person.id) and not unsubscribe(session, person.id)


def test_erasure_ends_the_subscription(session, runtime, report, resident):
    report(openid="o_gone")
    person = resident("o_gone")
    subscribe(session, runtime, person.id, "wechat")
    session.commit()
    erase_resident(session, runtime, person.id, actor=resident_actor(person), reason="chat")
    assert session.scalar(select(ReportSubscription).where(ReportSubscription.person_id == person.id)) is None


def test_the_report_counts_the_week_before_today(session, runtime, report, clock):
    report(openid="o_week")
    assert build_report(session, runtime, "LC", clock.now()).reported == 0  # today is not in the period yet
    clock.advance(days=1)
    assert build_report(session, runtime, "LC", clock.now()).reported == 1
    clock.advance(days=7)
    assert build_report(session, runtime, "LC", clock.now()).reported == 0

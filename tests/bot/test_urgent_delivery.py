"""Issue 14, on a fake clock: an urgent report reaches a dispatcher's chat within 5 s, ahead of the routine
cards already waiting for them, and the unowned-report sweep leaves 0 reports without an owner.

The report goes in through the real Telegram webhook; the alarm goes out through the real outbox worker and
sender to the fake Telegram server. Every time compared is the fake clock's: the ticket and its alarm are
stamped by the backend's clock, the delivery by the worker's (`OutboxWorker(clock=...)`), and the clock only
moves when the test says, by the worker's idle poll, the longest a due row waits for a worker with nothing to do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Alarm, Notification, Staff, Ticket
from backend.domain.notifications import NoticeKind
from backend.ports import FrozenClock
from backend.runtime import Runtime
from backend.services.intake import ReportIn, create_ticket
from backend.services.notify import notify_person, ticket_payload
from backend.services.people import resident_for
from backend.usecases import Backend
from backend.usecases.operations import sweep_unowned
from backend.workers.outbox import OutboxConfig, OutboxWorker, drain_until_idle
from bot.messages import Inbound, InboundKind
from tests.bot.platform_drivers import TelegramDriver

BUDGET = timedelta(seconds=5)
RESIDENT = ("resident", "rosa")
DISPATCHER = ("staff", "CD01")


@pytest.fixture
def fake_clock() -> FrozenClock:
    """A frozen clock ahead of the wall clock, so rows the database stamps itself are already due on it."""
    return FrozenClock(datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1))


@pytest.fixture
def telegram(
    runtime: Runtime, fake_clock: FrozenClock, session_factory: sessionmaker[Session]
) -> Iterator[TelegramDriver]:
    """Residents and staff on Telegram: the real webhook and sender, the fake Telegram server."""
    driver = TelegramDriver(dataclasses.replace(runtime, clock=fake_clock), session_factory)
    yield driver
    driver.close()


def _sent_to(driver: TelegramDriver, chat: str) -> list[str]:
    """The texts the fake Telegram server was asked to show in a chat."""
    out = []
    for call in driver.new_calls():
        form = {k: v[0] for k, v in parse_qs(call.body.decode("utf-8")).items()}
        body = call.json() if call.body.startswith(b"{") else form
        if str(body.get("chat_id")) == chat:
            out.append(str(body.get("text", "")))
    return out


def test_an_urgent_report_reaches_the_dispatchers_chat_within_5_seconds(
    telegram: TelegramDriver, fake_clock: FrozenClock, session_factory: sessionmaker[Session], session: Session
) -> None:
    dispatcher_chat = telegram.external_id(DISPATCHER)
    telegram.send(RESIDENT, Inbound("", "", InboundKind.location, lon=113.5895, lat=34.73925, label="建设路1号"))
    telegram.send(RESIDENT, Inbound("", "", InboundKind.text, text="楼道里闻到很浓的煤气味，好像漏气了"))
    ticket = session.scalars(select(Ticket).where(Ticket.priority == "urgent")).one()
    cd01 = session.scalars(select(Staff).where(Staff.code == "CD01")).one()
    telegram.new_calls()

    config = OutboxConfig()
    fake_clock.advance(seconds=config.idle_sleep)  # the worker's next look at the outbox, at the latest
    with OutboxWorker(session_factory, {"telegram": telegram.sender}, worker_id="w1", clock=fake_clock.now) as worker:
        drain_until_idle(worker)

    shown = _sent_to(telegram, dispatcher_chat)
    assert any(ticket.number in text and "紧急" in text for text in shown), shown
    session.expire_all()
    alarm_push = session.scalars(
        select(Notification).where(
            Notification.ticket_id == ticket.id,
            Notification.kind == NoticeKind.urgent_alarm.value,
            Notification.person_id == cd01.person_id,
        )
    ).one()
    alarm = session.scalars(select(Alarm).where(Alarm.ticket_id == ticket.id)).one()
    assert alarm_push.status == "sent" and alarm_push.sent_at is not None
    assert alarm.raised_at == ticket.created_at  # raised in the report's own transaction
    assert alarm_push.sent_at.replace(tzinfo=UTC) - ticket.created_at.replace(tzinfo=UTC) <= BUDGET


def test_after_the_sweep_no_report_is_without_an_owner(
    telegram: TelegramDriver, fake_clock: FrozenClock, session_factory: sessionmaker[Session], session: Session
) -> None:
    telegram.send(
        ("resident", "a"), Inbound("", "", InboundKind.text, text="怡和花园门口的垃圾桶满了好几天没人清运，臭得不行")
    )
    telegram.send(("resident", "b"), Inbound("", "", InboundKind.text, text="不知道该找谁，反正挺麻烦的"))
    telegram.send(("resident", "c"), Inbound("", "", InboundKind.text, text="闻到很浓的煤气味！"))
    person = resident_for(session, channel="telegram", external_id="stray")
    runtime = telegram.runtime
    create_ticket(
        session, runtime, ReportIn(text="井盖不见了", channel="telegram", reporter_id=person.id), dispatch=False
    )
    session.commit()

    fake_clock.advance(seconds=runtime.settings.unowned_sweep_seconds + 1)
    assert sweep_unowned(Backend(runtime, session_factory)) == 1

    session.expire_all()
    unowned = session.scalars(
        select(Ticket).where(
            Ticket.status.in_(("submitted", "returned")), Ticket.desk_since.is_(None), Ticket.assignee_id.is_(None)
        )
    ).all()
    assert unowned == []
    assert session.scalar(select(Ticket).where(Ticket.text == "井盖不见了")).desk_reason == "unowned"


def test_the_alarm_is_the_first_message_of_a_dispatcher_with_routine_cards_queued(
    telegram: TelegramDriver, fake_clock: FrozenClock, session_factory: sessionmaker[Session], session: Session
) -> None:
    # Eight routine reminders already wait for the dispatcher, whom Telegram lets get one message a second.
    dispatcher_chat = telegram.external_id(DISPATCHER)
    cd01 = session.scalars(select(Staff).where(Staff.code == "CD01")).one()
    person = resident_for(session, channel="telegram", external_id="earlier")
    routine = create_ticket(
        session, telegram.runtime, ReportIn(text="井盖松动", channel="telegram", reporter_id=person.id), dispatch=False
    )
    for n in range(8):
        notify_person(
            session,
            person=cd01.person,
            kind=NoticeKind.task_reminder,
            key=f"reminder{n}",
            ticket=routine,
            payload=ticket_payload(routine),
            channel="telegram",
        )
    session.commit()
    telegram.send(RESIDENT, Inbound("", "", InboundKind.location, lon=113.5895, lat=34.73925, label="建设路1号"))
    telegram.send(RESIDENT, Inbound("", "", InboundKind.text, text="楼道里闻到很浓的煤气味，好像漏气了"))
    urgent = session.scalars(select(Ticket).where(Ticket.priority == "urgent")).one()
    telegram.new_calls()

    # One claim under the platform's limits (the defaults): the dispatcher's slots of the next 2 s.
    with OutboxWorker(session_factory, {"telegram": telegram.sender}, worker_id="w1", clock=fake_clock.now) as worker:
        worker.drain_once()

    shown = _sent_to(telegram, dispatcher_chat)
    assert shown and urgent.number in shown[0] and "紧急" in shown[0], shown

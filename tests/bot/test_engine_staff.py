"""Staff dialogue details: tasks sorted by warning light, the digest, refusals, typed places."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Staff, Ticket
from backend.domain.notifications import NoticeKind
from backend.ports import FrozenClock
from backend.runtime import Runtime
from backend.services.digest import digest_counts
from backend.services.intake import ReportIn, create_ticket
from backend.services.people import resident_for
from bot.chatbot import Chatbot
from bot.console.inbox import bind_console_staff
from bot.digest import digest_messages
from bot.messages import Inbound, InboundKind

GRID_POINT = (113.5895, 34.73925)  # inside LC010101, GW001's grid


def _tickets_for_gw001(session: Session, runtime: Runtime, lights: list[str]) -> list[str]:
    person = resident_for(session, channel="console", external_id="resident-lights")
    numbers = []
    for i, light in enumerate(lights):
        ticket = create_ticket(
            session,
            runtime,
            ReportIn(
                text=f"怡和花园门口垃圾没人清运 {i}",
                channel="console",
                reporter_id=person.id,
                lon=GRID_POINT[0],
                lat=GRID_POINT[1],
                category_code="garbage_piling",
            ),
        )
        session.commit()
        ticket.light = light
        ticket.due_at = runtime.clock.now() + timedelta(hours=i)
        numbers.append(ticket.number)
    session.commit()
    return numbers


def test_my_tasks_lists_red_then_yellow_then_green(runtime: Runtime, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        green, red, yellow = _tickets_for_gw001(session, runtime, ["green", "red", "yellow"])
    user = bind_console_staff(session_factory, "GW001")
    engine = Chatbot(runtime, session_factory)
    out = engine.handle(Inbound("console", user, InboundKind.text, text="我的任务"))
    assert [b.data for b in out[0].buttons] == [f"task:view:{n}" for n in (red, yellow, green)]
    lines = out[0].text.splitlines()[1:]
    assert "红灯" in lines[0] and "黄灯" in lines[1] and "绿灯" in lines[2]


def test_digest_counts_lights_and_lists_the_overdue(runtime: Runtime, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        _, red, _ = _tickets_for_gw001(session, runtime, ["green", "red", "yellow"])
        staff = session.scalar(select(Staff).where(Staff.code == "GW001"))
        assert staff is not None
        (message,) = digest_messages(digest_counts(session, staff, runtime.clock.now()), "zh")
    assert "待办 3 件：红灯 1、黄灯 1、绿灯 1" in message.text
    assert red in message.text and [b.data for b in message.buttons] == [f"task:view:{red}"]


def test_digest_of_a_worker_with_nothing_open(runtime: Runtime, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        staff = session.scalar(select(Staff).where(Staff.code == "GW006"))
        assert staff is not None
        (message,) = digest_messages(digest_counts(session, staff, runtime.clock.now()), "zh")
    assert "待办 0 件" in message.text and "暂无待办" in message.text and not message.buttons


def test_a_worker_cannot_accept_another_grids_task(runtime: Runtime, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        (number,) = _tickets_for_gw001(session, runtime, ["green"])
    user = bind_console_staff(session_factory, "GW002")
    out = Chatbot(runtime, session_factory).handle(
        Inbound("console", user, InboundKind.button, data=f"task:accept:{number}")
    )
    assert "没有找到工单" in out[0].text
    with session_factory() as session:
        assert session.scalar(select(Ticket.status).where(Ticket.number == number)) == "dispatched"


def test_the_handler_cannot_verify_their_own_work(
    runtime: Runtime, session_factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    with session_factory() as session:
        (number,) = _tickets_for_gw001(session, runtime, ["green"])
    user = bind_console_staff(session_factory, "GW001")
    engine = Chatbot(runtime, session_factory)
    for data in (f"task:accept:{number}", f"task:onsite:{number}"):
        engine.handle(Inbound("console", user, InboundKind.button, data=data))
    engine.handle(Inbound("console", user, InboundKind.location, lon=GRID_POINT[0], lat=GRID_POINT[1]))
    engine.handle(Inbound("console", user, InboundKind.button, data=f"task:resolve:{number}"))
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    engine.handle(Inbound("console", user, InboundKind.image, image=png))
    engine.handle(Inbound("console", user, InboundKind.text, text="已清运"))
    out = engine.handle(Inbound("console", user, InboundKind.button, data=f"task:verify:{number}"))
    assert "操作未完成" in out[0].text
    with session_factory() as session:
        assert session.scalar(select(Ticket.status).where(Ticket.number == number)) == "resolved"


def test_a_typed_place_is_located_by_its_name(runtime: Runtime, session_factory: sessionmaker[Session]) -> None:
    engine = Chatbot(runtime, session_factory)
    engine.handle(Inbound("console", "typist", InboundKind.text, text="小区门口的路灯坏了好几天，晚上很黑"))
    out = engine.handle(Inbound("console", "typist", InboundKind.button, data="place:type"))
    assert "请输入小区名" in out[0].text
    out = engine.handle(Inbound("console", "typist", InboundKind.text, text="天伦小区5号楼"))
    assert "已受理" in out[0].text
    with session_factory() as session:
        ticket = session.scalars(select(Ticket).order_by(Ticket.id.desc())).first()
        assert ticket is not None and ticket.grid_code == "LC010102" and ticket.location_text == "天伦小区5号楼"


def test_digests_are_queued_for_staff_with_open_tasks_and_render(
    runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    from backend.db.models import Notification
    from backend.services.digest import queue_digests
    from bot.render import render_notification

    with session_factory() as session:
        _, red, _ = _tickets_for_gw001(session, runtime, ["green", "red", "yellow"])
        assert queue_digests(session, runtime.clock.now(), "2026-11-23") >= 1
        session.commit()
        rows = session.scalars(select(Notification).where(Notification.kind == NoticeKind.digest)).all()
        staff = session.scalar(select(Staff).where(Staff.code == "GW001"))
        assert staff is not None
        mine = [r for r in rows if r.person_id == staff.person_id]
        assert len(mine) == 1
        idle = session.scalar(select(Staff).where(Staff.code == "GW006"))
        assert idle is not None and all(r.person_id != idle.person_id for r in rows)  # nothing open, no digest
    (message,) = render_notification(NoticeKind.digest, mine[0].payload, "zh")
    assert "红灯 1" in message.text and red in message.text


def test_the_daily_digest_job_queues_once_per_local_day(
    runtime: Runtime, session_factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    from backend.usecases.operations import daily_digest_job

    with session_factory() as session:
        _tickets_for_gw001(session, runtime, ["green"])
    job = daily_digest_job(session_factory, runtime.settings.timezone)
    assert job(clock.now()) >= 1
    assert job(clock.now() + timedelta(hours=1)) == 0  # same local day
    assert job(clock.now() + timedelta(days=1)) >= 1

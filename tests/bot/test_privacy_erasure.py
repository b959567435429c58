"""删除我的信息 through every channel's real adapter: asked once, then nothing identifying is left anywhere,
while the resident's open ticket keeps going round the loop without them."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import JSON, String, Text, cast, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Base, Notification, Person, Staff, Ticket
from backend.domain.tickets import Action
from backend.runtime import Runtime
from backend.services.people import staff_actor
from backend.services.workflow import perform_action
from bot.messages import Inbound, InboundKind, Outbound
from tests.bot.drivers import Driver, Who, driver  # noqa: F401  (the fixture)

NAME, PHONE, HOME = "王小丽", "13912345678", "丰产路社区3号楼2单元"
ALICE: Who = ("resident", "alice")
NUMBER = re.compile(r"[A-Z]{1,8}\d{8}-\d{3,6}")


def _text(text: str) -> Inbound:
    return Inbound("", "", InboundKind.text, text=text)


def _said(replies: list[Outbound]) -> str:
    return "\n".join(f"{m.title}\n{m.text}" for m in replies)


def _press(driver: Driver, who: Who, replies: list[Outbound], label: str) -> list[Outbound]:  # noqa: F811
    for message in replies:
        for button in message.buttons:
            if button.label == label:
                return driver.send(who, Inbound("", "", InboundKind.button, data=button.data, text=label))
    raise AssertionError(f"no button {label!r} in {[b.label for m in replies for b in m.buttons]}")


def _report(driver: Driver, text: str) -> str:  # noqa: F811
    found = NUMBER.search(_said(driver.send(ALICE, _text(text))))
    assert found, "the report got no ticket number"
    return found.group()


def leftovers(session: Session, needles: list[str]) -> list[str]:
    """Every text or JSON column of every table holding one of the needles: 'table.column'."""
    forms = {form for needle in needles for form in (needle, json.dumps(needle)[1:-1])}
    hits = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if not isinstance(column.type, String | Text | JSON):
                continue
            as_text = cast(column, Text)
            found = session.scalar(
                select(func.count()).select_from(table).where(or_(*(as_text.contains(f) for f in forms)))
            )
            if found:
                hits.append(f"{table.name}.{column.name}")
    return hits


def test_erasure_leaves_no_trace_and_the_open_ticket_goes_on(
    driver: Driver,  # noqa: F811
    session_factory: sessionmaker[Session],
    runtime: Runtime,
) -> None:
    open_number = _report(driver, f"我是{NAME}，电话{PHONE}，天伦小区的电梯又坏了，老人上不了楼")
    _press(driver, ALICE, driver.send(ALICE, _text(open_number)), "补充情况")
    driver.send(ALICE, _text(f"联系人{NAME}，手机{PHONE}"))
    cancelled = _report(driver, f"{NAME}反映：和谐家园单元楼道灯坏了，电话{PHONE}")
    _press(driver, ALICE, driver.send(ALICE, _text(cancelled)), "取消工单")
    with session_factory() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == open_number)).one()
        person = session.get(Person, ticket.reporter_id)
        assert person is not None
        person.name, person.phone, person.home_text = NAME, PHONE, HOME  # as a hotline call would record them
        session.commit()
        assert leftovers(session, [PHONE, NAME])  # the search finds what is there
        handler = staff_actor(session.get(Staff, ticket.assignee_id))
        perform_action(session, runtime, open_number, Action.accept, handler)
        session.commit()

    asked = driver.send(ALICE, _text("删除我的信息"))
    assert "确定要删除" in _said(asked)
    assert "保持不变" in _said(driver.send(ALICE, _text("算了")))
    asked = driver.send(ALICE, _text("/deletemydata"))
    done = _press(driver, ALICE, asked, "确认删除")
    assert "已删除" in _said(done)

    with session_factory() as session:
        assert leftovers(session, [PHONE, NAME, HOME]) == []
        ticket = session.scalars(select(Ticket).where(Ticket.number == open_number)).one()
        assert ticket.status == "accepted" and ticket.reporter_id is None and ticket.contact_withdrawn
        assert "电梯又坏了" in ticket.text  # the handler still knows what to fix
        assert [e.action for e in ticket.events][-1] == "contact_withdrawn"
        told = session.scalars(
            select(Notification.kind).where(Notification.ticket_id == ticket.id, Notification.kind.like("task_%"))
        ).all()
        assert "task_contact_withdrawn" in told
        gone = session.scalars(select(Ticket).where(Ticket.number == cancelled)).one()
        assert gone.anonymised_at is not None and gone.text == ""
        handler = staff_actor(session.get(Staff, ticket.assignee_id))
        for action in (Action.start, Action.resolve):
            perform_action(session, runtime, open_number, action, handler, reason="已清运")
        verifier = staff_actor(session.scalars(select(Staff).where(Staff.code == "GL01")).one())
        perform_action(session, runtime, open_number, Action.verify, verifier)
        session.commit()
        session.refresh(ticket)
        assert ticket.status == "closed"  # nobody left to rate: a passed check finishes it

    again = driver.send(ALICE, _text(open_number))
    assert "电梯又坏了" not in _said(again)  # a new sender on that account sees nothing of the old ticket


@pytest.mark.parametrize("command", ["我的数据", "/mydata"])
def test_my_data_shows_what_is_stored(driver: Driver, command: str) -> None:  # noqa: F811
    number = _report(driver, "天伦小区的电梯又坏了，老人上不了楼")
    text = _said(driver.send(ALICE, _text(command)))
    assert "我们保存的您的信息" in text and number in text and "保存期限" in text

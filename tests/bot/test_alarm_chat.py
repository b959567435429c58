"""An urgent report through every channel: the resident gets the emergency numbers at once, the community's
dispatcher gets an alarm card in chat and acknowledges it with one press (recorded)."""

from __future__ import annotations

import re

from sqlalchemy import select

from backend.db.models import Alarm, Ticket
from bot.messages import Inbound, InboundKind, Outbound
from tests.bot.drivers import Driver, Who, driver  # noqa: F401  (the fixture)

RESIDENT: Who = ("resident", "rosa")
DISPATCHER: Who = ("staff", "CD01")
NUMBER = re.compile(r"[A-Z]{1,8}\d{8}-\d{3,6}")


def _said(replies: list[Outbound]) -> str:
    return "\n".join(f"{m.title}\n{m.text}" for m in replies)


def test_the_dispatcher_is_alarmed_in_chat_and_acknowledges(driver: Driver, session) -> None:  # noqa: F811
    driver.send(DISPATCHER, Inbound("", "", InboundKind.text, text="帮助"))  # the dispatcher's chat account
    driver.inbox(DISPATCHER)
    driver.send(RESIDENT, Inbound("", "", InboundKind.location, lon=113.5895, lat=34.73925, label="建设路1号"))
    said = _said(driver.send(RESIDENT, Inbound("", "", InboundKind.text, text="楼道里闻到很浓的煤气味，好像漏气了")))
    assert "119" in said and "燃气公司抢修热线" in said and "通知了值班工作人员" in said
    number = NUMBER.search(said).group()
    cards = driver.inbox(DISPATCHER)
    alarm_cards = [
        m for m in cards if number in f"{m.title}{m.text}" and any(b.data == f"task:ack:{number}" for b in m.buttons)
    ]
    assert alarm_cards, _said(cards)
    replies = driver.send(DISPATCHER, Inbound("", "", InboundKind.button, data=f"task:ack:{number}", text="收到"))
    assert "已确认收到紧急工单" in _said(replies)
    ticket = session.scalar(select(Ticket).where(Ticket.number == number))
    alarm = session.scalar(select(Alarm).where(Alarm.ticket_id == ticket.id))
    session.refresh(alarm)
    assert alarm.acked_at is not None

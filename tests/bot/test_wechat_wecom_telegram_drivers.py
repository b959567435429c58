"""The platform transcript drivers: an urgent report, the staff card in the inbox, a press that accepts it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Ticket
from backend.runtime import Runtime
from bot.messages import Inbound, InboundKind
from tests.bot.platform_drivers import TelegramDriver, WeChatDriver, WeComDriver

NUMBER = re.compile(r"[A-Z]{1,8}\d{8}-\d{3,6}")
FIRE = "怡和花园3号楼有人家里着火了，冒好多烟"


@pytest.mark.parametrize("driver_class", [WeChatDriver, WeComDriver, TelegramDriver])
def test_driver_runs_an_urgent_report_to_an_accepted_task(
    driver_class: type, runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    driver = driver_class(runtime, session_factory)
    try:
        replies = driver.send(("resident", "erin"), Inbound("", "", InboundKind.text, text=FIRE))
        text = "\n".join(m.text for m in replies)
        assert "119" in text
        match = NUMBER.search(text)
        assert match, text
        cards = driver.inbox(("staff", "CD01"))
        accept = [b for m in cards for b in m.buttons if b.data.startswith("task:accept:")]
        assert accept, cards
        driver.send(("staff", "CD01"), Inbound("", "", InboundKind.button, data=accept[0].data, text=accept[0].label))
        with session_factory() as session:
            assert session.scalar(select(Ticket.status).where(Ticket.number == match.group(0))) == "accepted"
    finally:
        driver.close()

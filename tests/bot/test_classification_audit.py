"""A report made in chat keeps, on its submit event, what the classifier really said: the model version, its
confidence and its top three, through every channel's real adapter."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Ticket, TicketEvent
from bot.messages import Inbound, InboundKind
from tests.bot.drivers import Driver, Who, driver  # noqa: F401  (the fixture)

ALICE: Who = ("resident", "alice")
PIN = (113.5895, 34.73925)  # grid LC010101
NUMBER = re.compile(r"[A-Z]{1,8}\d{8}-\d{3,6}")


def test_the_submit_event_records_the_model_version_confidence_and_top3(driver: Driver, session: Session) -> None:  # noqa: F811
    driver.send(ALICE, Inbound("", "", InboundKind.location, lon=PIN[0], lat=PIN[1], label="建设路1号附近"))
    replies = driver.send(ALICE, Inbound("", "", InboundKind.text, text="小区门口的垃圾好几天没人清运了，臭得不行"))
    number = NUMBER.search("\n".join(m.text for m in replies))
    assert number is not None
    ticket = session.scalar(select(Ticket).where(Ticket.number == number.group()))
    assert ticket is not None
    submit = session.scalar(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.action == "submit")
    )
    assert submit is not None
    data = submit.data
    assert data["model_version"] == "v1"
    assert 0.55 <= data["confidence"] <= 1.0 and data["confidence"] == round(ticket.category_confidence, 3)
    assert [code for code, _ in data["top3"]][0] == ticket.category_code == "garbage_piling"
    assert len(data["top3"]) == 3 and data["top3"][0][1] >= data["top3"][1][1] >= data["top3"][2][1] > 0

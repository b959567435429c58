"""Chat cards show times in the zone of the settings (GRIDBOT_TIMEZONE), not a hard-coded Asia/Shanghai."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from backend.runtime import Runtime
from backend.services.intake import ReportIn, create_ticket
from backend.services.people import resident_for
from bot.chatbot import Chatbot
from bot.console.inbox import bind_console_staff
from bot.messages import Inbound, InboundKind

GRID_POINT = (113.5895, 34.73925)  # inside LC010101, GW001's grid


def _task_card(runtime: Runtime, session_factory: sessionmaker[Session]) -> str:
    with session_factory() as session:
        person = resident_for(session, channel="console", external_id="resident-zone")
        report = ReportIn(
            text="怡和花园门口垃圾没人清运",
            channel="console",
            reporter_id=person.id,
            lon=GRID_POINT[0],
            lat=GRID_POINT[1],
            category_code="garbage_piling",
        )
        ticket = create_ticket(session, runtime, report)
        ticket.due_at = runtime.clock.now() + timedelta(hours=5)  # 07:00 UTC
        session.commit()
        number = ticket.number
    user = bind_console_staff(session_factory, "GW001")
    out = Chatbot(runtime, session_factory).handle(
        Inbound("console", user, InboundKind.button, data=f"task:view:{number}")
    )
    return out[0].text


def test_a_task_card_shows_its_due_time_in_the_settings_zone(
    runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    berlin = dataclasses.replace(runtime, settings=runtime.settings.model_copy(update={"timezone": "Europe/Berlin"}))
    card = _task_card(berlin, session_factory)
    assert "11-23 08:00" in card  # due 07:00 UTC, CET
    assert "11-23 03:00" in card  # the timeline: reported at 02:00 UTC
    assert "11-23 15:00" not in card and "11-23 10:00" not in card  # not Shanghai time


def test_the_default_zone_is_shanghai(runtime: Runtime, session_factory: sessionmaker[Session]) -> None:
    card = _task_card(runtime, session_factory)
    assert "11-23 15:00" in card and "11-23 10:00" in card

"""A refusal reaches the chat user in their own language, from the catalogue (not the error's Chinese str)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Ticket
from backend.ports import FrozenClock
from backend.runtime import Runtime
from backend.services.binding import issue_bind_code
from backend.services.intake import ReportIn, create_ticket
from backend.services.people import resident_for
from backend.texts import t
from bot.chatbot import Chatbot
from bot.console.inbox import bind_console_staff
from bot.messages import Inbound, InboundKind

GRID_POINT = (113.5895, 34.73925)  # inside LC010101, GW001's grid
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def _ticket_in_gw001s_grid(session: Session, runtime: Runtime) -> str:
    person = resident_for(session, channel="console", external_id="resident-refusals")
    ticket = create_ticket(
        session,
        runtime,
        ReportIn(
            text="怡和花园门口垃圾没人清运",
            channel="console",
            reporter_id=person.id,
            lon=GRID_POINT[0],
            lat=GRID_POINT[1],
            category_code="garbage_piling",
        ),
    )
    session.commit()
    return ticket.number


def _handler_tries_to_verify_own_work(
    runtime: Runtime, session_factory: sessionmaker[Session], language: str
) -> tuple[str, str]:
    with session_factory() as session:
        number = _ticket_in_gw001s_grid(session, runtime)
    user = bind_console_staff(session_factory, "GW001")
    chatbot = Chatbot(runtime, session_factory)

    def send(kind: InboundKind, **fields: object) -> str:
        out = chatbot.handle(Inbound("console", user, kind, language=language, **fields))  # type: ignore[arg-type]
        return out[0].text

    send(InboundKind.button, data=f"task:accept:{number}")
    send(InboundKind.button, data=f"task:onsite:{number}")
    send(InboundKind.location, lon=GRID_POINT[0], lat=GRID_POINT[1])
    send(InboundKind.button, data=f"task:resolve:{number}")
    send(InboundKind.image, image=PNG)
    send(InboundKind.text, text="done")
    return number, send(InboundKind.button, data=f"task:verify:{number}")


def test_an_english_staff_member_is_refused_in_english(
    runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    number, reply = _handler_tries_to_verify_own_work(runtime, session_factory, "en")
    assert reply == t("action.refused", "en", reason=t("error.verifier_is_handler", "en"))
    assert reply == "Not done: The verifier must not be the one who handled it."
    with session_factory() as session:
        assert session.scalar(select(Ticket.status).where(Ticket.number == number)) == "resolved"


def test_a_chinese_staff_member_is_refused_in_chinese(runtime: Runtime, session_factory: sessionmaker[Session]) -> None:
    _, reply = _handler_tries_to_verify_own_work(runtime, session_factory, "zh")
    assert reply == "操作未完成：核查人不能是处置人 (巡办分离: the verifier must not be the handler)"


def test_an_english_user_with_an_expired_bind_code_is_told_in_english(
    runtime: Runtime, session_factory: sessionmaker[Session], clock: FrozenClock
) -> None:
    with session_factory() as session:
        code = issue_bind_code(session, "GW003", clock.now(), timedelta(minutes=5)).code
        session.commit()
    clock.advance(minutes=6)
    inbound = Inbound("telegram", "tg-late-en", InboundKind.text, text=f"/bind {code}", language="en-GB")
    out = Chatbot(runtime, session_factory).handle(inbound)
    assert [m.text for m in out] == [t("error.bind_code_expired", "en")]

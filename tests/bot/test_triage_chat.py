"""The triage gate in chat, through every channel's real adapter: sure → dispatched; in between → the resident
picks from the top choices; "not sure" or too unsure → the triage desk, and the resident hears the truth."""

from __future__ import annotations

import dataclasses
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Staff, Ticket
from backend.runtime import Runtime
from backend.services.desk import DeskDecision, decide
from backend.services.people import staff_actor
from bot.messages import Inbound, InboundKind, Outbound
from tests.bot.drivers import Driver, Who, driver  # noqa: F401  (the fixture)

ALICE: Who = ("resident", "alice")
TEXT = "路灯不亮了，晚上走路黑漆漆的"
PIN = (113.5895, 34.73925)  # grid LC010101, community LC0101
NUMBER = re.compile(r"[A-Z]{1,8}\d{8}-\d{3,6}")


def _said(replies: list[Outbound]) -> str:
    return "\n".join(f"{m.title}\n{m.text}" for m in replies)


def _press(driver: Driver, replies: list[Outbound], label: str) -> list[Outbound]:  # noqa: F811
    for message in replies:
        for button in message.buttons:
            if button.label == label:
                return driver.send(ALICE, Inbound("", "", InboundKind.button, data=button.data, text=label))
    raise AssertionError(f"no button {label!r} in {[b.label for m in replies for b in m.buttons]}")


def _report(driver: Driver) -> list[Outbound]:  # noqa: F811
    driver.send(ALICE, Inbound("", "", InboundKind.location, lon=PIN[0], lat=PIN[1], label="建设路1号附近"))
    return driver.send(ALICE, Inbound("", "", InboundKind.text, text=TEXT))


@pytest.fixture
def band() -> str:
    """Where TEXT's confidence falls: "ask" (between the thresholds) or "desk" (below both); tests parametrise it."""
    return "ask"


@pytest.fixture
def runtime(base_runtime: Runtime, settings, clock, band: str) -> Runtime:  # type: ignore[no-untyped-def]
    """Thresholds set around the shipped model's confidence for TEXT, so the message falls in the band under test."""
    confidence = base_runtime.classifier.predict(TEXT).confidence  # type: ignore[union-attr]
    dispatch, ask = (confidence + 0.01, confidence - 0.01) if band == "ask" else (confidence + 0.02, confidence + 0.01)
    tuned = settings.model_copy(
        update={"dispatch_confidence_threshold": min(dispatch, 1.0), "low_confidence_threshold": max(ask, 0.0)}
    )
    return dataclasses.replace(base_runtime, settings=tuned, clock=clock)


def test_saying_i_do_not_know_in_words_also_hands_it_to_a_person(driver, band, session):  # noqa: F811
    _report(driver)
    said = _said(driver.send(ALICE, Inbound("", "", InboundKind.text, text="不知道")))
    ticket = session.scalar(select(Ticket).where(Ticket.number == NUMBER.search(said).group()))
    assert ticket.desk_reason == "no_category" and ticket.status == "submitted"


def test_the_resident_picks_from_the_top_choices_and_it_is_dispatched(driver, band, session):  # noqa: F811
    replies = _report(driver)
    assert "对吗" in _said(replies) and not NUMBER.search(_said(replies))  # asked once, nothing registered yet
    created = _press(driver, replies, "路灯照明")
    number = NUMBER.search(_said(created)).group()
    assert "已受理" in _said(created) and "正在由工作人员" not in _said(created)
    ticket = session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket.status == "dispatched" and ticket.category_code == "street_lights" and ticket.desk_since is None


@pytest.mark.parametrize("band", ["ask", "desk"])
def test_not_sure_goes_to_the_desk_then_the_resident_hears_it_was_dispatched(
    driver,  # noqa: F811
    band,
    session,
    session_factory: sessionmaker[Session],
    runtime: Runtime,  # noqa: F811
):
    replies = _report(driver)
    if band == "ask":  # the resident does not know
        replies = _press(driver, replies, "不确定，交给工作人员判断")
    said = _said(replies)
    number = NUMBER.search(said).group()
    assert "正在由工作人员判断类别和地点并分派" in said and "派给" not in said
    ticket = session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket.status == "submitted" and ticket.desk_community_code == "LC0101"
    assert ticket.desk_reason == ("no_category" if band == "ask" else "unsure")
    with session_factory() as work:
        dispatcher = work.scalar(select(Staff).where(Staff.code == "CD01"))
        decide(work, runtime, number, staff_actor(dispatcher), DeskDecision("street_lights", "LC010101"))
        work.commit()
    pushed = _said(driver.inbox(ALICE))
    assert number in pushed and "已派" in pushed


@pytest.mark.parametrize("band", ["desk"])
def test_the_dispatcher_routes_a_desk_report_from_chat(driver, band, session) -> None:  # noqa: F811
    dispatcher: Who = ("staff", "CD01")
    driver.send(dispatcher, Inbound("", "", InboundKind.text, text="帮助"))  # the dispatcher's chat account
    driver.inbox(dispatcher)
    number = NUMBER.search(_said(_report(driver))).group()
    cards = driver.inbox(dispatcher)
    desk_button = [b for m in cards for b in m.buttons if b.data == f"task:desk:{number}"]
    assert desk_button, _said(cards)
    offered = driver.send(dispatcher, Inbound("", "", InboundKind.button, data=desk_button[0].data, text="分拨"))
    pick = [b for m in offered for b in m.buttons if b.data == f"desk:{number}:street_lights"]
    assert pick, _said(offered)
    done = driver.send(dispatcher, Inbound("", "", InboundKind.button, data=pick[0].data, text=pick[0].label))
    assert f"工单 {number} 已按【路灯照明】派单" in _said(done)
    ticket = session.scalar(select(Ticket).where(Ticket.number == number))
    session.refresh(ticket)
    assert ticket.status == "dispatched" and ticket.desk_since is None and ticket.grid_code == "LC010101"

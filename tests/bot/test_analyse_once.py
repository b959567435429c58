"""A message is analysed once: the gazetteer, the grid lookup, urgency and the classifier each run once per
message, however many steps (place, category, duplicates, ticket, audit) read the result."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import nlp.urgency
from backend.db.models import Ticket, TicketEvent
from backend.runtime import Runtime
from bot.chatbot import Chatbot
from bot.messages import Inbound, InboundKind

# 丰产路社区 > 天伦小区's grid, as in the golden transcripts.
PIN = (113.5895, 34.73925)


class Counting:
    """Delegates every call to the real collaborator and counts the calls of the named methods."""

    def __init__(self, real: Any, methods: tuple[str, ...], calls: Counter[str], prefix: str) -> None:
        self._real, self._methods, self._calls, self._prefix = real, methods, calls, prefix

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if name not in self._methods:
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls[f"{self._prefix}.{name}"] += 1
            return attr(*args, **kwargs)

        return counted


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    counter: Counter[str] = Counter()
    real_detect = nlp.urgency.detect

    def detect(text: str) -> nlp.urgency.Urgency:
        counter["urgency.detect"] += 1
        return real_detect(text)

    monkeypatch.setattr(nlp.urgency, "detect", detect)
    yield counter


@pytest.fixture
def counted_engine(runtime: Runtime, session_factory: sessionmaker[Session], calls: Counter[str]) -> Chatbot:
    assert runtime.places is not None and runtime.classifier is not None
    counted = dataclasses.replace(
        runtime,
        places=Counting(runtime.places, ("best", "extract"), calls, "places"),  # type: ignore[arg-type]
        grids=Counting(runtime.grids, ("locate",), calls, "grids"),  # type: ignore[arg-type]
        classifier=Counting(runtime.classifier, ("predict",), calls, "classifier"),  # type: ignore[arg-type]
    )
    return Chatbot(counted, session_factory)


def _send(engine: Chatbot, user: str, text: str) -> None:
    engine.handle(Inbound("console", user, InboundKind.text, text=text))


def test_a_report_with_its_place_in_the_text_is_analysed_once(
    counted_engine: Chatbot, calls: Counter[str], session_factory: sessionmaker[Session]
) -> None:
    _send(counted_engine, "u-once-1", "和谐家园门口马路上有个大坑，电动车差点摔了")

    assert calls == Counter({"places.best": 1, "urgency.detect": 1, "classifier.predict": 1})
    with session_factory() as session:
        ticket = session.scalars(select(Ticket).order_by(Ticket.id.desc())).first()
        assert ticket is not None and ticket.grid_code == "LC010102" and ticket.status == "dispatched"
        submit = session.scalar(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.action == "submit")
        )
        assert submit is not None and submit.data["place_source"] == "text"
        assert submit.data["confidence"] > 0 and submit.data["top3"]  # the audit reads the same assessment


def test_a_pin_then_a_text_looks_the_pin_up_once(
    counted_engine: Chatbot, calls: Counter[str], session_factory: sessionmaker[Session]
) -> None:
    counted_engine.handle(Inbound("console", "u-once-2", InboundKind.location, lon=PIN[0], lat=PIN[1], label="路口"))
    assert calls == Counter()  # a pin alone is kept until the resident says what is wrong

    _send(counted_engine, "u-once-2", "路灯不亮了，晚上走路黑漆漆的")
    assert calls == Counter({"grids.locate": 1, "places.best": 1, "urgency.detect": 1, "classifier.predict": 1})


def test_each_answer_of_a_dialogue_is_analysed_once_and_the_report_never_again(
    counted_engine: Chatbot, calls: Counter[str], session_factory: sessionmaker[Session]
) -> None:
    _send(counted_engine, "u-once-3", "小区门口的路灯坏了好几天，晚上很黑")
    assert calls == Counter({"places.best": 1, "urgency.detect": 1, "classifier.predict": 1})

    calls.clear()
    _send(counted_engine, "u-once-3", "天伦小区")  # the typed place: located once, the report not re-read
    assert calls == Counter({"places.best": 1})
    with session_factory() as session:
        ticket = session.scalars(select(Ticket).order_by(Ticket.id.desc())).first()
        assert ticket is not None and ticket.text == "小区门口的路灯坏了好几天，晚上很黑"
        assert ticket.grid_code == "LC010102"

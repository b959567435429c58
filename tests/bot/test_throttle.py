"""Per-sender rate limiting: a burst is handled, the next message gets one polite reply, a flood gets
silence, and the sender is heard again once the bucket refills; other senders are not affected."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import ConversationState, Ticket
from backend.ports import FrozenClock
from backend.runtime import Runtime
from backend.texts import t
from bot.chatbot import Chatbot
from bot.messages import Inbound, InboundKind
from bot.throttle import SenderLimit, Verdict

REPORT = "建设路上有个井盖丢了，晚上很危险"


def _text(user: str, text: str, n: int) -> Inbound:
    return Inbound("wechat", user, InboundKind.text, text=text, message_id=f"{user}-{n}")


def _state(session_factory: sessionmaker[Session], user: str) -> dict[str, object]:
    with session_factory() as session:
        row = session.get(ConversationState, ("wechat", user))
        return dict(row.state) if row else {}


def _tickets(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(Ticket)) or 0)


@pytest.fixture
def limited(runtime: Runtime, session_factory: sessionmaker[Session]) -> Chatbot:
    settings = runtime.settings.model_copy(update={"chat_rate_per_minute": 6.0, "chat_rate_burst": 3})
    return Chatbot(dataclasses.replace(runtime, settings=settings), session_factory)


def test_a_flooding_sender_is_told_once_and_then_ignored_until_the_bucket_refills(
    limited: Chatbot, clock: FrozenClock, session_factory: sessionmaker[Session]
) -> None:
    answers = [limited.handle_once(_text("oflood", "帮助", n)) for n in range(3)]
    assert all(out and t("throttle.slow_down", "zh") not in out[0].text for out in answers)

    refused = limited.handle_once(_text("oflood", REPORT, 3))
    assert [m.text for m in refused] == [t("throttle.slow_down", "zh")]
    assert [limited.handle_once(_text("oflood", REPORT, n)) for n in range(4, 8)] == [[]] * 4
    assert _tickets(session_factory) == 0  # refused messages are not processed

    assert limited.handle_once(_text("oother", "帮助", 0))  # another sender is unaffected

    clock.advance(seconds=10)  # one message's worth of refill at 6 a minute
    heard = limited.handle_once(_text("oflood", "帮助", 8))
    assert heard and heard[0].text != t("throttle.slow_down", "zh")
    assert limited.handle_once(_text("oflood", "帮助", 9)) == [m for m in refused]  # told again, once


def test_the_limit_survives_a_restart_and_a_second_process(
    runtime: Runtime, limited: Chatbot, session_factory: sessionmaker[Session]
) -> None:
    for n in range(3):
        limited.handle_once(_text("oboth", "帮助", n))
    settings = limited.runtime.settings
    other = Chatbot(dataclasses.replace(runtime, settings=settings), session_factory)
    assert [m.text for m in other.handle_once(_text("oboth", "帮助", 3))] == [t("throttle.slow_down", "zh")]


def test_a_dialogue_in_progress_keeps_its_steps_when_a_message_is_refused(
    limited: Chatbot, clock: FrozenClock, session_factory: sessionmaker[Session]
) -> None:
    limited.handle_once(_text("odialog", "小区门口的路灯坏了好几天，晚上很黑", 0))
    asked = _state(session_factory, "odialog")
    assert asked.get("step") == "place"
    for key in ("b1", "b2"):  # the same press twice: the third message of the burst
        limited.handle_once(Inbound("wechat", "odialog", InboundKind.button, data="community:LC0101", message_id=key))
    in_progress = _state(session_factory, "odialog")
    refused = limited.handle_once(
        Inbound("wechat", "odialog", InboundKind.button, data="estate:LC010201:1", message_id="b3")
    )
    assert [m.text for m in refused] == [t("throttle.slow_down", "zh")]
    assert {k: v for k, v in _state(session_factory, "odialog").items() if k != "throttle"} == {
        k: v for k, v in in_progress.items() if k != "throttle"
    }
    assert _tickets(session_factory) == 0
    clock.advance(minutes=1)
    limited.handle_once(Inbound("wechat", "odialog", InboundKind.button, data="estate:LC010102:1", message_id="b4"))
    assert _tickets(session_factory) == 1


def test_the_default_limit_lets_a_burst_of_photos_through(runtime: Runtime) -> None:
    limit = SenderLimit(runtime.settings.chat_rate_per_minute, runtime.settings.chat_rate_burst)
    stored = None
    for _ in range(9):  # WeChat sends each photo of an album as its own message, at once
        verdict, stored = limit.check(stored, 1000.0)
        assert verdict is Verdict.handle


@pytest.mark.parametrize(
    ("per_minute", "burst", "seconds", "allowed"),
    [
        (20.0, 15, 0.0, 15),
        (20.0, 15, 60.0, 35),
        (6.0, 1, 30.0, 4),
        (60.0, 5, 10.0, 15),
    ],
)
def test_the_bucket_lets_through_burst_plus_rate_times_time(
    per_minute: float, burst: int, seconds: float, allowed: int
) -> None:
    limit = SenderLimit(per_minute, burst)
    stored, handled, steps = None, 0, 600
    for i in range(steps + 1):  # a message every seconds/steps, as fast as a flood comes
        verdict, stored = limit.check(stored, 1000.0 + seconds * i / steps)
        handled += verdict is Verdict.handle
    assert handled == allowed

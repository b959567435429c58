"""Transcript drivers: how a golden transcript talks to the bot.

A driver turns (who, neutral message) into whatever its channel needs and returns the bot's replies as
neutral `Outbound` messages. The console driver calls the engine directly; adapter drivers (WeChat,
WeCom, Telegram) post through the real webhook and read what the fake platform server recorded.

`Who` names a participant the same way on every channel: ("resident", "alice") or ("staff", "GW001").
Each driver maps it to its channel's user id (and binds staff accounts as the channel needs). A driver
may use two channels, e.g. residents on WeChat and staff on WeCom.

Adding drivers: a module `tests/bot/platform_drivers.py` next to this one defines
`FACTORIES: dict[str, Callable[[pytest.FixtureRequest], Driver]]` (a factory gets fixtures with
`request.getfixturevalue("runtime")` …), or driver classes WeChatDriver / WeComDriver / TelegramDriver
taking (runtime, session_factory). Every transcript then runs through each of them too.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

import pytest
from sqlalchemy.orm import Session, sessionmaker

from backend.runtime import Runtime
from bot.chatbot import Chatbot
from bot.console.inbox import CHANNEL, bind_console_staff, take_pending
from bot.messages import Inbound, Outbound

Who = tuple[str, str]  # ("resident" | "staff", name or staff code)


class Driver(Protocol):
    """What the transcript runner needs from a channel."""

    channel: str

    def send(self, who: Who, message: Inbound) -> list[Outbound]:
        """Deliver one message (its channel and user_id are filled in by the driver); the replies."""
        ...

    def inbox(self, who: Who) -> list[Outbound]:
        """The notifications delivered to this participant since the last call (pushed messages)."""
        ...

    def close(self) -> None:
        """Release servers and threads."""
        ...


class ConsoleDriver:
    """Talks to the engine directly on the "console" channel; notifications come from the outbox table."""

    channel = CHANNEL

    def __init__(self, runtime: Runtime, session_factory: sessionmaker[Session]) -> None:
        self.engine = Chatbot(runtime, session_factory)
        self.session_factory = session_factory
        self._seq = 0

    def user_id(self, who: Who) -> str:
        """The console user id of a participant (staff are bound on first use)."""
        role, name = who
        if role == "staff":
            return bind_console_staff(self.session_factory, name)
        return f"resident-{name}"

    def send(self, who: Who, message: Inbound) -> list[Outbound]:
        self._seq += 1
        inbound = replace(
            message,
            channel=self.channel,
            user_id=self.user_id(who),
            message_id=message.message_id or f"console-{self._seq}",
        )
        return self.engine.handle_once(inbound)

    def inbox(self, who: Who) -> list[Outbound]:
        user = self.user_id(who)
        return take_pending(self.session_factory, user)

    def close(self) -> None:
        return None


def _console(request: pytest.FixtureRequest) -> Driver:
    return ConsoleDriver(request.getfixturevalue("runtime"), request.getfixturevalue("session_factory"))


PLATFORM_MODULE = "tests.bot.platform_drivers"
PLATFORM_CLASSES = {"wechat": "WeChatDriver", "wecom": "WeComDriver", "telegram": "TelegramDriver"}


def _by_class(cls: Callable[[Runtime, sessionmaker[Session]], Driver]) -> Callable[[pytest.FixtureRequest], Driver]:
    def make(request: pytest.FixtureRequest) -> Driver:
        return cls(request.getfixturevalue("runtime"), request.getfixturevalue("session_factory"))

    return make


def _factories() -> dict[str, Callable[[pytest.FixtureRequest], Driver]]:
    factories: dict[str, Callable[[pytest.FixtureRequest], Driver]] = {"console": _console}
    try:
        extra = importlib.import_module(PLATFORM_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != PLATFORM_MODULE:
            raise
        return factories
    if hasattr(extra, "FACTORIES"):
        factories.update(extra.FACTORIES)
    else:
        factories.update(
            {name: _by_class(getattr(extra, cls)) for name, cls in PLATFORM_CLASSES.items() if hasattr(extra, cls)}
        )
    return factories


FACTORIES = _factories()


@pytest.fixture(params=sorted(FACTORIES))
def driver(request: pytest.FixtureRequest, runtime: Runtime, session_factory: sessionmaker[Session]) -> Driver:
    """One driver per channel under test: the console, plus any adapter drivers."""
    d = FACTORIES[request.param](request)
    request.addfinalizer(d.close)
    return d

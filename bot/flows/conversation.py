"""What a dialogue step works with: the inbound message, who sent it, their state, the backend, the replies."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from backend.cityconfig import CityConfig
from backend.domain.errors import DomainError
from backend.settings import Settings
from backend.texts import error_text, t
from backend.usecases.casework import Casework
from backend.usecases.views import Speaker, StaffView
from bot.messages import Button, Inbound, Outbound, OutboundKind
from nlp.intents import Intent


@dataclass
class Conversation:
    """One message of a dialogue; flows read `inbound` and `state`, call `casework`, and append to `out`."""

    inbound: Inbound
    speaker: Speaker
    casework: Casework
    city: CityConfig
    settings: Settings
    lang: str
    state: dict[str, Any]
    out: list[Outbound] = field(default_factory=list)

    @property
    def staff(self) -> StaffView | None:
        """The staff member speaking, or None for a resident."""
        return self.speaker.staff

    @property
    def text(self) -> str:
        """The message text (a voice message's recognised text), stripped."""
        return (self.inbound.text or "").strip()

    @cached_property
    def intent(self) -> Intent | None:
        """What the message asks for if it names no problem (你好, 谢谢, 满意, 处理了吗); None when it may name
        one. Read once per message, however many steps ask."""
        return self.casework.intent_of(self.text)

    def t(self, key: str, **params: Any) -> str:
        """A catalogue text in this user's language."""
        return t(key, self.lang, **params)

    def say(self, key: str, **params: Any) -> None:
        """Reply with a catalogue text."""
        self.out.append(Outbound.say(self.t(key, **params)))

    def say_text(self, text: str) -> None:
        """Reply with a text built from catalogue pieces."""
        self.out.append(Outbound.say(text))

    def refuse(self, error: DomainError) -> None:
        """Reply with why the backend refused, in the user's language."""
        self.say_text(error_text(error, self.lang))

    def choose(self, text: str, buttons: list[tuple[str, str]]) -> None:
        """Reply with a text and buttons given as (label, data) pairs."""
        self.out.append(Outbound.choose(text, *(Button(label, data) for label, data in buttons)))

    def ask_location(self, text: str, buttons: list[tuple[str, str]] | None = None) -> None:
        """Ask for a location pin (adapters show a share-location control), with optional choices."""
        self.out.append(
            Outbound(
                OutboundKind.location_request,
                text=text,
                buttons=tuple(Button(label, data) for label, data in buttons or []),
            )
        )

    def card(self, title: str, text: str, buttons: list[tuple[str, str]]) -> None:
        """Reply with a task card."""
        self.out.append(
            Outbound(
                OutboundKind.card,
                title=title,
                text=text,
                buttons=tuple(Button(label, data) for label, data in buttons),
            )
        )

    def reset(self) -> None:
        """End the dialogue in progress, keeping sticky keys."""
        keep = {k: v for k, v in self.state.items() if k in ("last_ticket", "recent_report", "recent_ref")}
        self.state.clear()
        self.state.update(keep)

    def begin(self, flow: str, step: str, **data: Any) -> None:
        """Start (or move) a dialogue to a step, waiting for the user's next message."""
        if self.state.get("flow") != flow:
            self.state["data"] = {}
        self.state["flow"], self.state["step"] = flow, step
        self.state["data"].update(data)

    @property
    def data(self) -> dict[str, Any]:
        """The dialogue's collected data."""
        data: dict[str, Any] = self.state.setdefault("data", {})
        return data

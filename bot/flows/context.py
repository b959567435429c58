"""What one dialogue turn works with: the inbound message, who sent it, their state, the replies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from backend.db.models import Person, Staff
from backend.runtime import Runtime
from backend.services.actors import ActorContext
from backend.services.people import resident_actor, staff_actor
from bot.catalogue import t
from bot.messages import Button, Inbound, Outbound, OutboundKind


@dataclass
class Turn:
    """One turn of a dialogue; flows read `inbound` and `state`, and append to `out`."""

    session: Session
    rt: Runtime
    inbound: Inbound
    person: Person
    staff: Staff | None
    lang: str
    state: dict[str, Any]
    out: list[Outbound] = field(default_factory=list)

    @property
    def actor(self) -> ActorContext:
        """The acting context: the staff member, or the resident."""
        return staff_actor(self.staff) if self.staff is not None else resident_actor(self.person)

    @property
    def text(self) -> str:
        """The message text (a voice message's recognised text), stripped."""
        return (self.inbound.text or "").strip()

    def t(self, key: str, **params: Any) -> str:
        """A catalogue text in this user's language."""
        return t(key, self.lang, **params)

    def say(self, key: str, **params: Any) -> None:
        """Reply with a catalogue text."""
        self.out.append(Outbound.say(self.t(key, **params)))

    def say_text(self, text: str) -> None:
        """Reply with a text built from catalogue pieces."""
        self.out.append(Outbound.say(text))

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
                OutboundKind.card, title=title, text=text, buttons=tuple(Button(label, data) for label, data in buttons)
            )
        )

    def reset(self) -> None:
        """End the dialogue in progress, keeping sticky keys."""
        keep = {k: v for k, v in self.state.items() if k in ("last_ticket",)}
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

"""What a webhook needs of the chatbot."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from bot.messages import Inbound, Outbound


class Chat(Protocol):
    """One message in, its replies out, at most once per platform message id (bot.chatbot implements it)."""

    def handle_once(
        self, inbound: Inbound, *, outbox: Callable[[list[Outbound]], list[Outbound]] | None = None
    ) -> list[Outbound]: ...

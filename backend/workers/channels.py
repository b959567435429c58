"""The seam between the outbox and the chat platforms: a Sender protocol and our own channel errors.

Adapters (bot/telegram, bot/wechat …) implement `Sender` and translate their SDK's or HTTP
errors into these exceptions at the boundary, so the worker never sees an SDK type.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Protocol, runtime_checkable

from sqlalchemy.orm import Session

from backend.db.models import Notification

# WeChat lets an Official Account send customer-service messages only this long after the user's last message.
WECHAT_SERVICE_WINDOW = timedelta(hours=48)


class ChannelError(Exception):
    """Base class: a platform refused or failed to take a message."""


class TransientChannelError(ChannelError):
    """Worth retrying later: timeouts, 5xx, flood control (429)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentChannelError(ChannelError):
    """Retrying the same message on the same channel will never work (bad chat id, bad request)."""


class BlockedError(PermanentChannelError):
    """The recipient blocked the bot or deleted their account."""


class WindowClosedError(PermanentChannelError):
    """WeChat's 48-hour customer-service window is closed: only a template message may go out."""


@runtime_checkable
class Sender(Protocol):
    """Delivers one notification on one channel, or raises a ChannelError."""

    def send(self, notification: Notification) -> None: ...


# A hook that turns a notification a channel refused for good into another one (e.g. a WeChat template
# message), or returns None to dead-letter it. It runs inside the worker's recording transaction; the
# returned row must not be added to the session yet and needs its own unique key.
Fallback = Callable[[Session, Notification, PermanentChannelError], "Notification | None"]


def fallback_is_due(error: PermanentChannelError) -> bool:
    """Whether an error is one of those that take the configured fallback rather than dead-lettering."""
    return isinstance(error, BlockedError | WindowClosedError)

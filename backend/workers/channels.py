"""The seam between the outbox and the chat platforms: a neutral `Delivery`, the `Sender` protocol, our own
channel errors and the fallback hook.

Adapters (bot/telegram, bot/wechat …) implement `Sender` and translate their SDK's or HTTP errors into
these exceptions at the boundary, so the worker never sees an SDK type, and backend/ knows no platform.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Delivery:
    """One outbox message as a sender sees it: where it goes and what it says, no database row."""

    notification_id: int | None
    channel: str
    recipient: str  # the recipient's external id on that channel (openid, WeCom userid, chat id …)
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str = ""  # unique per message (the outbox row's key)
    last_inbound_at: datetime | None = None  # the recipient's last message to us on this channel, if any


class ChannelError(Exception):
    """Base class: a platform refused or failed to take a message."""


class TransientChannelError(ChannelError):
    """Worth retrying later: timeouts, 5xx, flood control (429)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HeldBackError(ChannelError):
    """A batch sender did not send this message: the platform's flood control hit an earlier message to the
    same recipient in the batch. Not an attempt: the worker puts it back for `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentChannelError(ChannelError):
    """Retrying the same message on the same channel will never work (bad chat id, bad request)."""


class BlockedError(PermanentChannelError):
    """The recipient blocked the bot or deleted their account."""


class WindowClosedError(PermanentChannelError):
    """The platform only lets us write to this recipient for a while after their last message, and that is over."""


@runtime_checkable
class Sender(Protocol):
    """Delivers one message on one channel, or raises a ChannelError."""

    def send(self, delivery: Delivery) -> None: ...


@runtime_checkable
class BatchSender(Protocol):
    """A sender that also takes a whole claimed batch at once (one call, its own concurrency).

    Each item is (delivery, delay): the sender waits `delay` seconds (booked by the rate limiter; negative: the
    slot passed that long ago) before sending that item. `late_after`, per item: an item whose send would
    start more than that many seconds after its slot is not sent but answered HeldBackError, and so are the
    later items to its recipient (None: sent however late). The answer has one entry per item, in order: None
    when sent, else the error (a ChannelError, or anything else, which the worker treats as transient).
    """

    def send(self, delivery: Delivery) -> None: ...

    def send_many(
        self, items: Sequence[tuple[Delivery, float]], *, late_after: Sequence[float | None] | None = None
    ) -> list[BaseException | None]: ...


# Channels that take a message only for a while after the recipient's last one (WeChat customer-service
# messages: 48 hours); their deliveries carry Delivery.last_inbound_at, the others' do not need it.
WINDOWED_CHANNELS = frozenset({"wechat"})

# The recipient's external id on another channel (None if they have no account there).
AddressBook = Callable[[str], "str | None"]

# A hook that turns a delivery a channel refused for good into another one (the WeChat template message in
# bot/wechat), or returns None to dead-letter it. The returned delivery needs its own idempotency key; the
# worker stores it as a new outbox row in its recording transaction.
Fallback = Callable[[Delivery, PermanentChannelError, AddressBook], "Delivery | None"]


def fallback_is_due(error: PermanentChannelError) -> bool:
    """Whether an error is one of those that take the configured fallback rather than dead-lettering."""
    return isinstance(error, BlockedError | WindowClosedError)

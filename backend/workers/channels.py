"""The seam between the outbox and the chat platforms: a Sender protocol and our own channel errors.

Adapters (bot/telegram, bot/wechat …) implement `Sender` and translate their SDK's or HTTP
errors into these exceptions at the boundary, so the worker never sees an SDK type.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import ChannelIdentity, Notification

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
    """Delivers one notification on one channel, or raises a ChannelError.

    A sender may also have a `service_window: timedelta` attribute (WeChat: WECHAT_SERVICE_WINDOW): the
    worker then raises WindowClosedError itself, without calling send(), for a recipient whose last
    inbound message (ChannelIdentity.last_inbound_at) is older than that.
    """

    def send(self, notification: Notification) -> None: ...


# A hook that turns a notification a channel refused for good into another one (wechat_template_fallback
# below), or returns None to dead-letter it. It runs inside the worker's recording transaction; the
# returned row must not be added to the session yet and needs its own unique key.
Fallback = Callable[[Session, Notification, PermanentChannelError], "Notification | None"]


TEMPLATE_CHANNEL = "wechat_template"


def wechat_template_fallback(session: Session, row: Notification, error: PermanentChannelError) -> Notification | None:
    """The default fallback: the same message as a WeChat template message to the person's openid, if any."""
    if row.channel == TEMPLATE_CHANNEL or row.person_id is None:
        return None
    openid = session.scalar(
        select(ChannelIdentity.external_id).where(
            ChannelIdentity.person_id == row.person_id, ChannelIdentity.channel == "wechat"
        )
    )
    if openid is None:
        return None
    return Notification(
        key=f"{row.key}:template"[:200],
        ticket_id=row.ticket_id,
        person_id=row.person_id,
        channel=TEMPLATE_CHANNEL,
        external_id=openid,
        kind=row.kind,
        payload={**row.payload, "fallback_from": row.channel, "fallback_reason": str(error)},
    )


def fallback_is_due(error: PermanentChannelError) -> bool:
    """Whether an error is one of those that take the configured fallback rather than dead-lettering."""
    return isinstance(error, BlockedError | WindowClosedError)

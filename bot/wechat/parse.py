"""wechatpy messages (Official Account and WeCom) → neutral `Inbound`."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any

from bot.messages import Inbound, InboundKind

logger = logging.getLogger(__name__)


# The longest sender id the database stores (channel_identities.external_id); openids are 28 characters.
MAX_USER_ID = 128


class BadSender(ValueError):
    """A message without a usable FromUserName."""


def _float(value: Any) -> float | None:
    """A finite number, or None (JSON, and so the dialogue state, has no room for inf or nan)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _timestamp(value: str) -> datetime | None:
    """CreateTime (Unix seconds) as a UTC datetime; None unless it is ASCII digits within datetime's range."""
    if not (value.isascii() and value.isdigit()):
        return None
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (OverflowError, OSError, ValueError):
        return None


def message_key(fields: dict[str, str]) -> str:
    """The dedupe key WeChat documents: MsgId, or FromUserName + CreateTime for events (with the event and its
    key, so that two menu taps within one second are two events, while a redelivery keeps its key)."""
    if fields.get("MsgId"):
        return fields["MsgId"]
    key = f"{fields.get('FromUserName', '')}:{fields.get('CreateTime', '')}:{fields.get('Event', '')}"
    return f"{key}:{fields['EventKey']}" if fields.get("EventKey") else key


def to_inbound(message: Any, fields: dict[str, str], *, channel: str) -> Inbound | None:
    """Turn a parsed wechatpy message into an Inbound; None for events the bot ignores.

    Raises BadSender for a FromUserName no platform sends (empty, or longer than we store)."""
    sender = fields.get("FromUserName", "")
    if not sender or len(sender) > MAX_USER_ID:
        raise BadSender("FromUserName missing or too long")
    msg_type = (fields.get("MsgType") or "").lower()
    base: dict[str, Any] = {
        "channel": channel,
        "user_id": sender,
        "message_id": message_key(fields),
        "received_at": _timestamp(fields.get("CreateTime", "")),
    }
    if msg_type == "text":
        # A tap on a customer-service menu (msgmenu) arrives as text carrying bizmsgmenuid.
        if fields.get("bizmsgmenuid"):
            return Inbound(kind=InboundKind.button, data=fields["bizmsgmenuid"], text=fields.get("Content", ""), **base)
        content = getattr(message, "content", None)  # not a str when the element has attributes or children
        return Inbound(
            kind=InboundKind.text,
            text=content if isinstance(content, str) and content else fields.get("Content", ""),
            **base,
        )
    if msg_type == "voice":
        return Inbound(kind=InboundKind.voice, text=fields.get("Recognition", "") or "", image_ref="", **base)
    if msg_type == "image":
        return Inbound(
            kind=InboundKind.image, image_ref=fields.get("MediaId", ""), label=fields.get("PicUrl", ""), **base
        )
    if msg_type == "location":
        # Location_X is the latitude and Location_Y the longitude (both arrive as strings).
        return Inbound(
            kind=InboundKind.location,
            lat=_float(fields.get("Location_X")),
            lon=_float(fields.get("Location_Y")),
            label=fields.get("Label", ""),
            **base,
        )
    if msg_type in ("video", "shortvideo"):
        return Inbound(kind=InboundKind.video, image_ref=fields.get("MediaId", ""), **base)
    if msg_type == "link":
        words = "\n".join(part for part in (fields.get("Title", ""), fields.get("Description", "")) if part)
        return Inbound(kind=InboundKind.link, text=words, label=fields.get("Url", ""), **base)
    if msg_type == "event":
        return _event(fields, base)
    return Inbound(kind=InboundKind.unknown, **base)


def _event(fields: dict[str, str], base: dict[str, Any]) -> Inbound | None:
    event = (fields.get("Event") or "").lower()
    if event == "subscribe":
        return Inbound(kind=InboundKind.follow, **base)
    if event == "unsubscribe":
        return Inbound(kind=InboundKind.unfollow, **base)
    if event == "click" and fields.get("EventKey"):
        # A tap on the Official Account's menu (config/wechat_menu.yaml): its key is a command's button data.
        return Inbound(kind=InboundKind.button, data=fields["EventKey"], **base)
    if event == "template_card_event":
        # WeCom sends TaskId per card; a press on the same card twice keeps one key per button.
        key = f"card:{fields.get('TaskId', '')}:{fields.get('EventKey', '')}:{base['user_id']}"
        return Inbound(
            **{**base, "message_id": key}, kind=InboundKind.button, data=fields.get("EventKey", ""), card_press=True
        )
    # Menu VIEW taps (WeChat opens the page itself), periodic location reports, card enter events …:
    # acknowledged with no answer.
    logger.debug("ignoring %s event", event or "unnamed")
    return None

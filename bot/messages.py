"""Channel-neutral messages: adapters turn platform updates into `Inbound` and render `Outbound`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class InboundKind(StrEnum):
    """What a user sent."""

    text = "text"
    voice = "voice"  # `text` holds the platform's speech recognition
    location = "location"
    image = "image"
    button = "button"  # `data` holds the button's payload
    follow = "follow"  # subscribe / /start
    unfollow = "unfollow"
    group = "group"  # addressed to the bot in a group chat: answered there, never with ticket details
    video = "video"  # a video or short video: not taken, the user is asked for a photo
    link = "link"  # a shared link: `text` holds its title and description, `label` its URL
    file = "file"  # a file that is not an image: `label` holds its name
    edit = "edit"  # a later edit of the message `data` names: the new `text`, or a live location's lon/lat
    unknown = "unknown"  # a message type we do not handle (sticker, contact …)


@dataclass(frozen=True)
class Inbound:
    """One message from a chat user, whatever the platform."""

    channel: str  # wechat | wecom | telegram | console
    user_id: str  # openid, WeCom userid, Telegram user id, console name
    kind: InboundKind
    text: str = ""
    data: str = ""  # button payload
    lon: float | None = None
    lat: float | None = None
    label: str = ""  # a location's address label
    image: bytes | None = None  # the photo's bytes, when the adapter could fetch them
    image_ref: str = ""  # platform media id / file id / URL of the photo
    message_id: str = ""  # platform id for dedupe (MsgId, update_id …)
    ref: str = ""  # the message's id in its chat (Telegram message_id), which a later edit names
    language: str = "zh"
    display_name: str = ""
    received_at: datetime | None = None
    card_press: bool = False  # a press on a card whose button the passive reply may relabel (WeCom)


class OutboundKind(StrEnum):
    """What the bot sends back."""

    text = "text"
    buttons = "buttons"  # text with choice buttons
    image = "image"
    card = "card"  # a task card: title, text and action buttons (WeCom template card, Telegram message)
    location_request = "location_request"  # ask the user to share a location pin
    card_label = "card_label"  # the pressed card button's new label (what happened); only after a card_press


@dataclass(frozen=True)
class Button:
    """A choice the user can tap; `data` comes back as an Inbound button press."""

    label: str
    data: str


@dataclass(frozen=True)
class Outbound:
    """One message to a chat user, whatever the platform."""

    kind: OutboundKind
    text: str = ""
    title: str = ""
    buttons: tuple[Button, ...] = field(default_factory=tuple)
    image_url: str = ""

    @classmethod
    def say(cls, text: str) -> Outbound:
        """A plain text message."""
        return cls(OutboundKind.text, text=text)

    @classmethod
    def choose(cls, text: str, *buttons: Button) -> Outbound:
        """A text with buttons."""
        return cls(OutboundKind.buttons, text=text, buttons=tuple(buttons))


def outbound_to_json(messages: list[Outbound]) -> dict[str, Any]:
    """Replies as JSON, for the delivery record, outbox rows and the simulator."""
    # Spelt out rather than dataclasses.asdict, whose recursive deep copy was a tenth of a batch's CPU.
    return {
        "messages": [
            {
                "kind": m.kind.value,
                "text": m.text,
                "title": m.title,
                "buttons": [{"label": b.label, "data": b.data} for b in m.buttons],
                "image_url": m.image_url,
            }
            for m in messages
        ]
    }


def outbound_from_json(data: dict[str, Any]) -> list[Outbound]:
    """The inverse of outbound_to_json."""
    out = []
    for m in data.get("messages", []):
        buttons = tuple(Button(**b) for b in m.get("buttons", ()))
        out.append(
            Outbound(
                kind=OutboundKind(m["kind"]),
                text=m.get("text", ""),
                title=m.get("title", ""),
                buttons=buttons,
                image_url=m.get("image_url", ""),
            )
        )
    return out

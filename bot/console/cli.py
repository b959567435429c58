"""`gridbot chat`: talk to the bot in a terminal as a resident or a staff member (channel "console")."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Annotated

import typer

from backend.settings import get_settings
from bot.chatbot import Chatbot
from bot.console.inbox import CHANNEL, bind_console_staff, take_pending
from bot.messages import Button, Inbound, InboundKind, Outbound, OutboundKind

logger = logging.getLogger(__name__)

HELP = (
    "Type a message, or: a number to press that button · /loc LON LAT [label] to share a location · "
    "/photo PATH to send a photo · /follow · /quit"
)


def render_lines(messages: list[Outbound], buttons: list[Button]) -> list[str]:
    """Messages as terminal lines; buttons are numbered on from those already shown and added to `buttons`."""
    lines: list[str] = []
    for message in messages:
        if message.title:
            lines.append(f"【{message.title}】")
        lines.extend(message.text.splitlines() or [""])
        if message.kind is OutboundKind.location_request:
            lines.append("  (/loc LON LAT to share a location)")
        for button in message.buttons:
            buttons.append(button)
            lines.append(f"  [{len(buttons)}] {button.label}")
    return lines


def parse_input(line: str, buttons: list[Button]) -> Inbound | None:
    """A typed line as an Inbound (channel and user are filled in later); None for /quit."""
    line = line.strip()
    if line in ("/quit", "/exit"):
        return None
    if line.isdigit() and 1 <= int(line) <= len(buttons):
        button = buttons[int(line) - 1]
        return Inbound("", "", InboundKind.button, data=button.data, text=button.label)
    if line.startswith("/loc "):
        parts = line.split(maxsplit=3)
        try:
            return Inbound(
                "",
                "",
                InboundKind.location,
                lon=float(parts[1]),
                lat=float(parts[2]),
                label=parts[3] if len(parts) > 3 else "",
            )
        except (IndexError, ValueError):
            return Inbound("", "", InboundKind.unknown)
    if line.startswith("/photo "):
        path = Path(line.split(maxsplit=1)[1]).expanduser()
        data = path.read_bytes() if path.is_file() else b""
        return Inbound("", "", InboundKind.image, image=data or None, image_ref=str(path))
    if line == "/follow":
        return Inbound("", "", InboundKind.follow)
    return Inbound("", "", InboundKind.text, text=line)


def chat_command(
    as_staff: Annotated[str | None, typer.Option("--as", help="chat as this staff member (code, e.g. GW001)")] = None,
    user: Annotated[str, typer.Option("--user", help="resident name (a console identity)")] = "demo",
    lang: Annotated[str, typer.Option("--lang", help="zh or en")] = "zh",
) -> None:
    """Chat with the bot in the terminal, as a resident or (with --as) as a staff member."""
    from backend.usecases.operations import open_backend

    backend = open_backend(get_settings())
    factory = backend.session_factory
    chatbot = Chatbot(backend.runtime, factory)
    user_id = bind_console_staff(factory, as_staff) if as_staff else f"resident-{user}"
    typer.echo(f"gridbot chat as {as_staff or user} — {HELP}")
    buttons: list[Button] = []
    counter = itertools.count(1)
    first = Inbound(CHANNEL, user_id, InboundKind.follow, language=lang)
    replies = chatbot.handle(first) if not as_staff else []
    while True:
        replies = replies + take_pending(factory, user_id)
        buttons.clear()
        for line in render_lines(replies, buttons):
            typer.echo(f"bot> {line}")
        try:
            typed = input("you> ")
        except (EOFError, KeyboardInterrupt):
            break
        message = parse_input(typed, buttons)
        if message is None:
            break
        inbound = Inbound(
            CHANNEL,
            user_id,
            message.kind,
            text=message.text,
            data=message.data,
            lon=message.lon,
            lat=message.lat,
            label=message.label,
            image=message.image,
            image_ref=message.image_ref,
            language=lang,
            message_id=f"console-{user_id}-{next(counter)}",
        )
        replies = chatbot.handle(inbound)

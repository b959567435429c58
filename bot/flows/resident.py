"""The resident's dialogue: welcome, report, follow-up, rating, home address, help."""

from __future__ import annotations

import logging

from bot.catalogue import matches
from bot.flows import followup, report
from bot.flows.binding import try_bind
from bot.flows.common import find_number
from bot.flows.context import Turn
from bot.messages import InboundKind

logger = logging.getLogger(__name__)


def handle(turn: Turn) -> None:
    """Answer one resident message: commands and buttons first, then the dialogue in progress, else a report."""
    inbound, text = turn.inbound, turn.text
    if inbound.kind is InboundKind.follow or text in ("/start", "start"):
        turn.reset()
        turn.say("welcome")
        return
    if inbound.kind is InboundKind.unknown:
        turn.say("unsupported")
        return
    if inbound.kind is InboundKind.button and _button(turn, inbound.data):
        return
    if inbound.kind in (InboundKind.text, InboundKind.voice) and text and _command(turn, text):
        return
    flow = turn.state.get("flow")
    if flow == "report":
        report.on_message(turn)
    elif flow == "details":
        followup.on_details(turn)
    elif flow == "rate":
        followup.on_rating(turn)
    elif flow == "home":
        followup.on_home(turn)
    else:
        _fresh(turn)


def _fresh(turn: Turn) -> None:
    """A message outside any dialogue: a report, a photo, a pin."""
    inbound = turn.inbound
    if inbound.kind in (InboundKind.text, InboundKind.voice):
        if not turn.text:
            turn.say("voice.empty" if inbound.kind is InboundKind.voice else "empty")
            return
        report.start(turn, turn.text)
    elif inbound.kind is InboundKind.image:
        turn.begin("report", "triage")
        if report.stash_photo(turn):
            turn.say("report.photo_first")
    elif inbound.kind is InboundKind.location:
        turn.begin("report", "triage", lon=inbound.lon, lat=inbound.lat, label=inbound.label)
        turn.say("report.location_first")
    else:
        turn.say("help.short")


def _command(turn: Turn, text: str) -> bool:
    """Global commands that work at any step; True when the text was one."""
    if matches("cmd.help", text):
        turn.say("help")
    elif matches("cmd.mytickets", text):
        turn.reset()
        followup.my_tickets(turn)
    elif matches("cmd.stop", text):
        turn.reset()
        turn.say("stopped")
    elif matches("cmd.home", text):
        followup.begin_home(turn)
    elif matches("cmd.report", text):
        turn.reset()
        turn.begin("report", "triage")
        turn.say("report.describe")
    elif try_bind(turn, text):
        pass
    elif text.startswith("/") and find_number(text) is None:
        turn.say("unknown_command", command=text.split()[0][:30])
    elif (number := find_number(text)) is not None and len(text) <= len(number) + 6:
        # a bare number (perhaps with 查询/取消 around it)
        if text.startswith(("取消", "/cancel", "cancel")):
            followup.cancel(turn, number)
        else:
            turn.reset()
            followup.status(turn, number)
    else:
        return False
    return True


def _button(turn: Turn, data: str) -> bool:
    """Buttons that work at any step (from earlier messages or notifications)."""
    kind, _, rest = data.partition(":")
    if kind == "view" and rest:
        followup.status(turn, rest)
    elif kind == "cancel" and rest:
        turn.reset()
        followup.cancel(turn, rest)
    elif kind == "add" and rest:
        followup.begin_details(turn, rest)
    elif kind == "rate" and rest.count(":") == 1:
        number, score = rest.split(":")
        followup.begin_rating(turn, number, score)
    elif kind == "cmd" and rest == "mytickets":
        followup.my_tickets(turn)
    elif kind == "cmd" and rest == "help":
        turn.say("help")
    else:
        return False
    return True

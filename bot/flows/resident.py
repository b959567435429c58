"""The resident's dialogue: welcome, report, follow-up, rating, home address, help."""

from __future__ import annotations

import logging

from backend.domain.tickets import OPEN_STATUSES
from backend.texts import matches
from bot.flows import edits, followup, privacy, public_report, report
from bot.flows.binding import try_bind
from bot.flows.common import find_number
from bot.flows.conversation import Conversation
from bot.flows.media import answer_wordless
from bot.messages import InboundKind
from nlp.intents import RATINGS, Intent

logger = logging.getLogger(__name__)

_OPEN = frozenset(s.value for s in OPEN_STATUSES)


def handle(conv: Conversation) -> None:
    """Answer one resident message: commands and buttons first, then the dialogue in progress, else a report."""
    inbound, text = conv.inbound, conv.text
    if inbound.kind is InboundKind.group:
        # A group sees no ticket, number or place: only where to talk in private.
        link = f" https://t.me/{inbound.data}" if inbound.data else ""
        conv.say("group.private", link=link)
        return
    if inbound.kind is InboundKind.follow or text in ("/start", "start"):
        conv.reset()
        conv.say("welcome")
        return
    if inbound.kind is InboundKind.unknown:
        conv.say("unsupported")
        return
    if answer_wordless(conv):
        return
    if inbound.kind is InboundKind.edit:
        edits.on_edit(conv)
        return
    if inbound.kind is InboundKind.button and _button(conv, inbound.data):
        return
    if inbound.kind in (InboundKind.text, InboundKind.voice) and text and _command(conv, text):
        return
    flow = conv.state.get("flow")
    if flow == "report":
        report.on_message(conv)
    elif flow == "details":
        followup.on_details(conv)
    elif flow == "rate":
        followup.on_rating(conv)
    elif flow == "home":
        followup.on_home(conv)
    elif flow == privacy.FLOW:
        privacy.on_message(conv)
    else:
        _fresh(conv)


def _fresh(conv: Conversation) -> None:
    """A message outside any dialogue: a report, a photo, a pin."""
    inbound = conv.inbound
    if inbound.kind in (InboundKind.text, InboundKind.voice):
        if not conv.text:
            conv.say("voice.empty" if inbound.kind is InboundKind.voice else "empty")
            return
        if not _no_problem_named(conv):
            report.start(conv, conv.text)
    elif inbound.kind is InboundKind.image:
        if not conv.text and _photo_for_recent_report(conv):
            return
        conv.begin("report", "triage")
        if conv.text:  # a photo with a caption: the caption is the report (a lost photo does not stop it)
            report.stash_photo(conv)
            report.start(conv, conv.text)
        elif report.stash_photo(conv):
            conv.say("report.photo_first")
    elif inbound.kind is InboundKind.location:
        conv.begin("report", "triage", lon=inbound.lon, lat=inbound.lat, label=inbound.label)
        conv.say("report.location_first")
    else:
        conv.say("help.short")


def _no_problem_named(conv: Conversation) -> bool:
    """Answer a message that names no problem (你好, 谢谢, 满意, 我要反映) without starting a report; False for
    any other. (A question about progress, 处理了吗, is a command: see _command.)"""
    intent = conv.intent
    if intent is None:
        return False
    if intent in RATINGS:
        _typed_rating(conv, intent)
    elif intent is Intent.report:
        run_command(conv, "report")  # asks what happened
    else:
        conv.say(f"smalltalk.{intent.value}")
    return True


def _typed_rating(conv: Conversation, score: Intent) -> None:
    """满意 or 没解决 typed rather than pressed: the rating of the ticket waiting for one."""
    waiting = conv.casework.awaiting_rating()
    if waiting is not None:
        followup.begin_rating(conv, waiting.number, score.value)
    elif score is Intent.dissatisfied:
        followup.my_tickets(conv)  # 还没修好 with nothing to rate: where their reports stand
    else:
        conv.say("smalltalk.ack")


def _photo_for_recent_report(conv: Conversation) -> bool:
    """A photo just after a report, in the same conversation, joins that report while it is open."""
    number = conv.state.get(report.RECENT)
    if not number:
        return False
    ticket = conv.casework.ticket(number)
    if ticket is None or not ticket.reported_by_speaker or ticket.status not in _OPEN:
        conv.state.pop(report.RECENT, None)
        return False
    if followup.add_photo(conv, number):
        conv.say("details.photo_added", number=number)
    return True


# Commands a word or a button runs alike: typed as any of the catalogue's cmd.<name> words, pressed as
# `cmd:<name>` (an Official Account menu CLICK key, config/wechat_menu.yaml, or a button in a reply).
COMMANDS = ("help", "mytickets", "stop", "home", "report")


def run_command(conv: Conversation, name: str) -> bool:
    """Run a named command; False when there is no such command."""
    if name == "help":
        conv.say("help")
    elif name == "mytickets":
        conv.reset()
        followup.my_tickets(conv)
    elif name == "stop":
        conv.reset()
        conv.say("stopped")
    elif name == "home":
        followup.begin_home(conv)
    elif name == "report":
        conv.reset()
        conv.begin("report", "triage")
        conv.say("report.describe")
    else:
        return False
    return True


def _command(conv: Conversation, text: str) -> bool:
    """Global commands that work at any step; True when the text was one."""
    if (name := next((c for c in COMMANDS if matches(f"cmd.{c}", text)), None)) is not None:
        run_command(conv, name)
    elif try_bind(conv, text) or privacy.try_command(conv, text) or public_report.try_command(conv, text):
        pass
    elif conv.intent is Intent.status:
        # 查一下我的工单, 处理了吗: the latest tickets, as the command shows them, but a report half told stays
        # where it was (the next message still answers its question).
        followup.my_tickets(conv)
    elif text.startswith("/") and find_number(text) is None:
        conv.say("unknown_command", command=text.split()[0][:30])
    elif (number := find_number(text)) is not None and len(text) <= len(number) + 6:
        # a bare number (perhaps with 查询/取消 around it)
        if text.startswith(("取消", "/cancel", "cancel")):
            followup.cancel(conv, number)
        else:
            conv.reset()
            followup.status(conv, number)
    else:
        return False
    return True


def _button(conv: Conversation, data: str) -> bool:
    """Buttons that work at any step (from earlier messages or notifications)."""
    kind, _, rest = data.partition(":")
    if kind == "view" and rest:
        followup.status(conv, rest)
    elif kind == "cancel" and rest:
        conv.reset()
        followup.cancel(conv, rest)
    elif kind == "add" and rest:
        followup.begin_details(conv, rest)
    elif kind == "rate" and rest.count(":") == 1:
        number, score = rest.split(":")
        followup.begin_rating(conv, number, score)
    elif kind == "cmd" and run_command(conv, rest):
        pass
    elif kind == privacy.FLOW:
        return privacy.on_button(conv, data)
    else:
        return False
    return True

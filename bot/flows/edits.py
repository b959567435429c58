"""Edits of earlier messages (Telegram): the words of a report not yet dispatched, or a live location moving.

An edit of the message that started the report in progress assesses the new words (the one place a report's
text is analysed) and carries on; an edit of the message that made a ticket revises it while it waits at a
triage desk (not yet dispatched), and after that tells the resident it can no longer be changed and how to
add to it. A live location's moves update the place of a report waiting for
one and are otherwise ignored without an answer: they come every few seconds.
"""

from __future__ import annotations

from dataclasses import replace

from backend.domain.errors import DomainError
from bot.flows import report
from bot.flows.common import category_name
from bot.flows.conversation import Conversation
from bot.messages import InboundKind

# Steps of a report that wait for its place; a moving pin answers them like a pin sent anew.
_WAITING_FOR_PLACE = frozenset({"place", "urgent_place"})


def on_edit(conv: Conversation) -> None:
    """Answer a resident's edit of an earlier message."""
    inbound = conv.inbound
    if inbound.lon is not None and inbound.lat is not None:
        _moved(conv)
        return
    flow, step = conv.state.get("flow"), conv.state.get("step")
    if flow == report.FLOW and step != "urgent_place" and inbound.data and conv.data.get("ref") == inbound.data:
        conv.say("edit.applied")
        report.start(conv, conv.text)
        return
    number = conv.state.get(report.RECENT)
    if number and inbound.data and conv.state.get(report.RECENT_REF) == inbound.data:
        _ticket_edited(conv, number)
        return
    conv.say("edit.not_read")


def _ticket_edited(conv: Conversation, number: str) -> None:
    """The words of a report that is a ticket now: revised while it waits at a desk, else too late."""
    ticket = conv.casework.ticket(number)
    if ticket is not None and ticket.status == "submitted" and conv.text:
        try:
            revised = conv.casework.revise(number, conv.text)
        except DomainError as exc:
            conv.refuse(exc)
            return
        conv.say("edit.revised", number=number, category=category_name(conv.city, revised.category_code, conv.lang))
        return
    conv.choose(conv.t("edit.too_late", number=number), [(conv.t("button.add_details"), f"add:{number}")])


def _moved(conv: Conversation) -> None:
    """A live location's new position: the pending place of a report, else nothing to say."""
    if conv.state.get("flow") != report.FLOW:
        return
    step = conv.state.get("step")
    if step == "triage" and conv.data.get("lon") is not None:  # a pin before the words: it moves along
        conv.data.update(lon=conv.inbound.lon, lat=conv.inbound.lat)
    elif step in _WAITING_FOR_PLACE:
        conv.inbound = replace(conv.inbound, kind=InboundKind.location, data="", text="")
        report.on_message(conv)

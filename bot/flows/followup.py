"""After a report: status and timeline, my tickets, more details or photos, cancel, rating, home address."""

from __future__ import annotations

import logging

from backend.domain.errors import DomainError
from bot.flows.common import RATING_SCORES, area_name, show_status, status_label
from bot.flows.conversation import Conversation
from bot.messages import InboundKind

logger = logging.getLogger(__name__)

MY_TICKETS_LIMIT = 5


def my_tickets(conv: Conversation) -> None:
    """List the resident's latest tickets (their own and followed), with a button for each."""
    rows = conv.casework.my_tickets(MY_TICKETS_LIMIT)
    if not rows:
        conv.say("mytickets.none")
        return
    lines = [conv.t("mytickets.header")]
    lines += [f"{t.number} {status_label(t.status, conv.lang)} {t.text[:20]}" for t in rows]
    conv.choose("\n".join(lines), [(t.number, f"view:{t.number}") for t in rows])


def status(conv: Conversation, number: str) -> None:
    """Show one ticket if the resident may see it."""
    ticket = conv.casework.ticket(number)
    if ticket is None:
        conv.say("ticket.not_found", number=number)
        return
    conv.state["last_ticket"] = ticket.number
    show_status(conv, ticket)


def cancel(conv: Conversation, number: str) -> None:
    """Cancel a ticket that nobody has accepted yet."""
    ticket = conv.casework.ticket(number)
    if ticket is None:
        conv.say("ticket.not_found", number=number)
        return
    try:
        conv.casework.cancel(number)
    except DomainError:
        conv.say("cancel.refused", number=number, status=status_label(ticket.status, conv.lang))
        return
    conv.say("cancel.done", number=number)


def begin_details(conv: Conversation, number: str) -> None:
    """Wait for more words or photos for an open ticket."""
    ticket = conv.casework.ticket(number)
    if ticket is None or not ticket.reported_by_speaker:
        conv.say("ticket.not_found", number=number)
        return
    conv.begin("details", "wait", number=ticket.number)
    conv.say("details.ask", number=ticket.number)


def on_details(conv: Conversation) -> None:
    """Add the message as a comment or a photo to the ticket, then end the step."""
    number = conv.data.get("number", "")
    if conv.inbound.kind is InboundKind.image:
        if add_photo(conv, number):
            conv.say("details.photo_added", number=number)
        conv.reset()
        return
    if not conv.text:
        conv.say("details.ask", number=number)
        return
    if conv.intent is not None:  # 好的, 不用了, 谢谢: nothing to add, and the next message is not an addition
        conv.reset()
        conv.say("details.nothing_added", number=number)
        return
    try:
        conv.casework.comment(number, conv.text)
    except DomainError as exc:
        conv.refuse(exc)
    else:
        conv.say("details.added", number=number)
    conv.reset()


def add_photo(conv: Conversation, number: str, *, stage: str = "report") -> bool:
    """Store the inbound photo on a ticket; False (and a reply) when that fails."""
    if not conv.inbound.image:
        conv.say("photo.unavailable")
        return False
    try:
        conv.casework.add_photo(number, conv.inbound.image, stage=stage)
    except DomainError as exc:
        conv.refuse(exc)
        return False
    return True


def begin_rating(conv: Conversation, number: str, score: str) -> None:
    """Remember the score and ask for optional words."""
    if score not in RATING_SCORES:
        conv.say("help.short")
        return
    conv.begin("rate", "comment", number=number, score=score)
    conv.choose(conv.t("rating.ask_comment"), [(conv.t("button.skip"), "skip")])


def on_rating(conv: Conversation) -> None:
    """Record the rating with the words (or none)."""
    number, score = conv.data.get("number", ""), conv.data.get("score", "")
    skipped = conv.inbound.kind is InboundKind.button and conv.inbound.data == "skip"
    words = None if skipped else (conv.text or None)
    conv.reset()
    try:
        ticket = conv.casework.rate(number, score, words)
    except DomainError as exc:
        conv.refuse(exc)
        return
    last = ticket.events[-1].action if ticket.events else ""
    if last == "escalate_to_supervisor":
        conv.say("rating.supervised", number=number, holder=conv.t(f"holder.{ticket.tier}"))
        return
    key = "rating.reopened" if ticket.status == "dispatched" else "rating.thanks"
    conv.say(key, number=number)


def begin_home(conv: Conversation) -> None:
    """Ask for the home address (typed or a location pin)."""
    conv.begin("home", "wait")
    conv.ask_location(conv.t("home.ask"))


def on_home(conv: Conversation) -> None:
    """Bind the home address when it can be placed in a grid."""
    inbound = conv.inbound
    if inbound.kind is InboundKind.location and inbound.lon is not None and inbound.lat is not None:
        place = conv.casework.locate(lon=inbound.lon, lat=inbound.lat)
        label = inbound.label
    elif conv.text:
        place = conv.casework.locate(text=conv.text)
        label = conv.text
    else:
        conv.ask_location(conv.t("home.ask"))
        return
    if place.grid_code is None:
        conv.say("home.unknown")
        return
    home = conv.casework.set_home(place, label or area_name(conv.city, place.area_code))
    conv.reset()
    conv.say("home.done", place=home)

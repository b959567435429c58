"""After a report: status and timeline, my tickets, more details or photos, cancel, rating, home address."""

from __future__ import annotations

import logging

from sqlalchemy import select

from backend.db.models import Ticket, TicketEvent
from backend.domain.errors import DomainError
from backend.domain.tickets import Action
from backend.services.access import visible_tickets
from backend.services.attachments import store_photo
from backend.services.feedback import SCORES, rate
from backend.services.intake import locate
from backend.services.workflow import apply_action, load_ticket
from bot.flows.common import area_name, show_status, status_label, visible_ticket
from bot.flows.context import Turn
from bot.messages import InboundKind

logger = logging.getLogger(__name__)

MY_TICKETS_LIMIT = 5


def my_tickets(turn: Turn) -> None:
    """List the resident's latest tickets (their own and followed), with a button for each."""
    rows = turn.session.scalars(
        select(Ticket)
        .where(visible_tickets(turn.actor))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(MY_TICKETS_LIMIT)
    ).all()
    if not rows:
        turn.say("mytickets.none")
        return
    lines = [turn.t("mytickets.header")]
    lines += [f"{t.number} {status_label(t.status, turn.lang)} {t.text[:20]}" for t in rows]
    turn.choose("\n".join(lines), [(t.number, f"view:{t.number}") for t in rows])


def status(turn: Turn, number: str) -> None:
    """Show one ticket if the resident may see it."""
    ticket = visible_ticket(turn, number)
    if ticket is None:
        turn.say("ticket.not_found", number=number)
        return
    turn.state["last_ticket"] = ticket.number
    show_status(turn, ticket)


def cancel(turn: Turn, number: str) -> None:
    """Cancel a ticket that nobody has accepted yet."""
    ticket = visible_ticket(turn, number)
    if ticket is None:
        turn.say("ticket.not_found", number=number)
        return
    try:
        with turn.session.begin_nested():  # a refused step is taken back alone
            apply_action(
                turn.session,
                turn.rt,
                load_ticket(turn.session, number, lock=True),
                Action.cancel,
                turn.actor,
                reason="反映人撤回",
            )
    except DomainError:
        turn.say("cancel.refused", number=number, status=status_label(ticket.status, turn.lang))
        return
    turn.say("cancel.done", number=number)


def begin_details(turn: Turn, number: str) -> None:
    """Wait for more words or photos for an open ticket."""
    ticket = visible_ticket(turn, number)
    if ticket is None or ticket.reporter_id != turn.person.id:
        turn.say("ticket.not_found", number=number)
        return
    turn.begin("details", "wait", number=ticket.number)
    turn.say("details.ask", number=ticket.number)


def on_details(turn: Turn) -> None:
    """Add the message as a comment or a photo to the ticket, then end the step."""
    number = turn.data.get("number", "")
    if turn.inbound.kind is InboundKind.image:
        if add_photo(turn, number):
            turn.say("details.photo_added", number=number)
        turn.reset()
        return
    if not turn.text:
        turn.say("details.ask", number=number)
        return
    if add_comment(turn, number, turn.text):
        turn.say("details.added", number=number)
    turn.reset()


def add_comment(turn: Turn, number: str, note: str) -> bool:
    """A resident's note on their own ticket's timeline."""
    try:
        with turn.session.begin_nested():  # a refused step is taken back alone
            ticket = load_ticket(turn.session, number)
            if ticket.reporter_id != turn.person.id:
                raise DomainError("只有反映人本人可以补充")
            turn.session.add(
                TicketEvent(
                    ticket_id=ticket.id,
                    at=turn.rt.clock.now(),
                    actor_id=turn.person.id,
                    actor_role="resident",
                    action="comment",
                    from_status=ticket.status,
                    to_status=ticket.status,
                    note=note[:2000],
                )
            )
    except DomainError as exc:
        turn.say_text(str(exc))
        return False
    return True


def add_photo(turn: Turn, number: str, *, stage: str = "report") -> bool:
    """Store the inbound photo on a ticket; False (and a reply) when that fails."""
    if not turn.inbound.image:
        turn.say("photo.unavailable")
        return False
    try:
        with turn.session.begin_nested():  # a refused step is taken back alone
            ticket = load_ticket(turn.session, number)
            store_photo(
                turn.session,
                upload_dir=turn.rt.settings.upload_dir,
                ticket=ticket,
                data=turn.inbound.image,
                stage=stage,
                uploaded_by=turn.person.id,
                max_bytes=turn.rt.settings.upload_max_bytes,
            )
    except DomainError as exc:
        turn.say_text(str(exc))
        return False
    return True


def begin_rating(turn: Turn, number: str, score: str) -> None:
    """Remember the score and ask for optional words."""
    if score not in SCORES:
        turn.say("help.short")
        return
    turn.begin("rate", "comment", number=number, score=score)
    turn.choose(turn.t("rating.ask_comment"), [(turn.t("button.skip"), "skip")])


def on_rating(turn: Turn) -> None:
    """Record the rating with the words (or none)."""
    number, score = turn.data.get("number", ""), turn.data.get("score", "")
    words = None if (turn.inbound.kind is InboundKind.button and turn.inbound.data == "skip") else (turn.text or None)
    turn.reset()
    try:
        with turn.session.begin_nested():  # a refused step is taken back alone
            ticket = rate(turn.session, turn.rt, number, turn.actor, score=score, comment=words)
    except DomainError as exc:
        turn.say_text(str(exc))
        return
    key = "rating.reopened" if ticket.status == "dispatched" else "rating.thanks"
    turn.say(key, number=number)


def begin_home(turn: Turn) -> None:
    """Ask for the home address (typed or a location pin)."""
    turn.begin("home", "wait")
    turn.ask_location(turn.t("home.ask"))


def on_home(turn: Turn) -> None:
    """Bind the home address when it can be placed in a grid."""
    inbound = turn.inbound
    if inbound.kind is InboundKind.location and inbound.lon is not None and inbound.lat is not None:
        place = locate(turn.rt, lon=inbound.lon, lat=inbound.lat)
        label = inbound.label
    elif turn.text:
        place = locate(turn.rt, text=turn.text)
        label = turn.text
    else:
        turn.ask_location(turn.t("home.ask"))
        return
    if place.grid_code is None:
        turn.say("home.unknown")
        return
    turn.person.home_area_code = place.area_code
    turn.person.home_text = (label or area_name(turn.rt, place.area_code))[:300]
    turn.reset()
    turn.say("home.done", place=turn.person.home_text)

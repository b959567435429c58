"""Helpers both dialogues share: ticket numbers in text, names, timelines, ticket lists."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from backend.db.models import Ticket
from backend.domain.errors import DomainError
from backend.runtime import Runtime
from backend.services.access import can_see
from backend.services.workflow import followers_of, load_ticket
from bot.catalogue import catalogue, t
from bot.flows.context import Turn

TICKET_NUMBER = re.compile(r"[A-Za-z]{1,8}\d{8}-\d{3,6}")


def find_number(text: str) -> str | None:
    """The first ticket number in a text (GB20261122-0001), upper-cased."""
    m = TICKET_NUMBER.search(text or "")
    return m.group().upper() if m else None


def category_name(rt: Runtime, code: str | None, lang: str) -> str:
    """A subcategory's display name."""
    if not code:
        return t("category.unknown", lang)
    sub = rt.city.subcategories.get(code)
    if sub is None:
        return code
    return sub.name if lang == "zh" else code.replace("_", " ")


def area_name(rt: Runtime, code: str | None) -> str:
    """An area's name, or the code when unknown."""
    if not code:
        return ""
    area = rt.city.areas.get(code)
    return area.name if area else code


def place_text(rt: Runtime, ticket: Ticket, lang: str) -> str:
    """Where a ticket is, as the resident reads it."""
    if ticket.location_text:
        return ticket.location_text
    if ticket.area_code:
        return area_name(rt, ticket.area_code)
    return t("place.unknown", lang)


def local_time(rt: Runtime, at: datetime | None) -> str:
    """A timestamp in the city's time zone, as 11-23 10:05."""
    if at is None:
        return "—"
    return at.astimezone(ZoneInfo(rt.city.calendar.timezone)).strftime("%m-%d %H:%M")


def status_label(status: str, lang: str) -> str:
    """A ticket status in words."""
    return t(f"status.{status}", lang)


def timeline(turn: Turn, ticket: Ticket) -> str:
    """The ticket's audit trail as lines a resident or worker can read."""
    lines = []
    resident = turn.staff is None
    for ev in ticket.events:
        if resident and (ev.action in _STAFF_ONLY or (ev.action == "comment" and ev.actor_role != "resident")):
            continue  # SLA lights, reminders and staff notes are internal
        label = turn.t(f"action.{ev.action}") if f"action.{ev.action}" in catalogue() else ev.action
        shown = _RESIDENT_NOTES if resident else _STAFF_NOTES
        note = f"（{ev.note}）" if ev.note and ev.action in shown else ""
        lines.append(f"{local_time(turn.rt, ev.at)} {label}{note}")
    return "\n".join(lines[-10:])


_STAFF_ONLY = frozenset({"light", "supervise", "reassign"})
_RESIDENT_NOTES = frozenset({"reopen", "comment", "resolve", "cancel"})
_STAFF_NOTES = _RESIDENT_NOTES | {"return", "escalate", "request_extension", "refuse_extension", "supervise"}


def visible_ticket(turn: Turn, number: str) -> Ticket | None:
    """The ticket if this user may see it, else None."""
    try:
        ticket = load_ticket(turn.session, number)
    except DomainError:
        return None
    if not can_see(turn.actor, ticket, follower_ids=followers_of(turn.session, ticket)):
        return None
    return ticket


def show_status(turn: Turn, ticket: Ticket) -> None:
    """Reply with a ticket's status, its timeline and the actions open to a resident."""
    rt = turn.rt
    text = turn.t(
        "status.summary",
        number=ticket.number,
        status=status_label(ticket.status, turn.lang),
        category=category_name(rt, ticket.category_code, turn.lang),
        place=place_text(rt, ticket, turn.lang),
        text=ticket.text[:60],
    )
    if ticket.merged_into_id is not None:
        into = turn.session.get(Ticket, ticket.merged_into_id)
        if into is not None:
            text += "\n" + turn.t("status.merged_into", number=into.number)
    text += "\n" + timeline(turn, ticket)
    buttons: list[tuple[str, str]] = []
    if turn.staff is None and ticket.reporter_id == turn.person.id:
        if ticket.status in ("submitted", "dispatched", "returned"):
            buttons.append((turn.t("button.cancel_ticket"), f"cancel:{ticket.number}"))
        if ticket.status not in ("closed", "cancelled", "merged"):
            buttons.append((turn.t("button.add_details"), f"add:{ticket.number}"))
        if ticket.status in ("verified", "closed") and not _rated_since_resolution(ticket, turn.person.id):
            buttons += rating_buttons(turn.lang, ticket.number)
    if buttons:
        turn.choose(text, buttons)
    else:
        turn.say_text(text)


def _rated_since_resolution(ticket: Ticket, person_id: int) -> bool:
    since = ticket.resolved_at or ticket.created_at
    return any(r.person_id == person_id and r.created_at >= since for r in ticket.ratings)


def rating_buttons(lang: str, number: str) -> list[tuple[str, str]]:
    """满意 / 基本满意 / 不满意 buttons for a ticket."""
    return [
        (t(f"rating.{score}", lang), f"rate:{number}:{score}")
        for score in ("satisfied", "basically_satisfied", "dissatisfied")
    ]

"""Helpers both dialogues share: ticket numbers in text, names, timelines, ticket status."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from backend.cityconfig import CityConfig
from backend.services.feedback import SCORES
from backend.texts import catalogue, t
from backend.usecases.views import TicketView
from bot.flows.conversation import Conversation

TICKET_NUMBER = re.compile(r"[A-Za-z]{1,8}\d{8}-\d{3,6}")
RATING_SCORES = SCORES


def find_number(text: str) -> str | None:
    """The first ticket number in a text (GB20261122-0001), upper-cased."""
    m = TICKET_NUMBER.search(text or "")
    return m.group().upper() if m else None


def category_name(city: CityConfig, code: str | None, lang: str) -> str:
    """A subcategory's display name."""
    if not code:
        return t("category.unknown", lang)
    sub = city.subcategories.get(code)
    if sub is None:
        return code
    return sub.name if lang == "zh" else code.replace("_", " ")


def area_name(city: CityConfig, code: str | None) -> str:
    """An area's name, or the code when unknown."""
    if not code:
        return ""
    area = city.areas.get(code)
    return area.name if area else code


def place_text(city: CityConfig, ticket: TicketView, lang: str) -> str:
    """Where a ticket is, as the resident reads it."""
    if ticket.location_text:
        return ticket.location_text
    if ticket.area_code:
        return area_name(city, ticket.area_code)
    return t("place.unknown", lang)


def local_time(at: datetime | None, timezone: str) -> str:
    """A timestamp in a time zone (settings.timezone), as 11-23 10:05."""
    if at is None:
        return "—"
    return at.astimezone(ZoneInfo(timezone)).strftime("%m-%d %H:%M")


def status_label(status: str, lang: str) -> str:
    """A ticket status in words."""
    return t(f"status.{status}", lang)


def timeline(conv: Conversation, ticket: TicketView) -> str:
    """The ticket's audit trail as lines a resident or worker can read."""
    lines = []
    resident = conv.staff is None
    for ev in ticket.events:
        if resident and (ev.action in _STAFF_ONLY or (ev.action == "comment" and ev.actor_role != "resident")):
            continue  # SLA lights, reminders and staff notes are internal
        label = conv.t(f"action.{ev.action}") if f"action.{ev.action}" in catalogue() else ev.action
        shown = _RESIDENT_NOTES if resident else _STAFF_NOTES
        note = f"（{ev.note}）" if ev.note and ev.action in shown else ""
        lines.append(f"{local_time(ev.at, conv.settings.timezone)} {label}{note}")
    return "\n".join(lines[-10:])


_STAFF_ONLY = frozenset({"light", "supervise", "reassign"})
_RESIDENT_NOTES = frozenset({"reopen", "comment", "resolve", "cancel"})
_STAFF_NOTES = _RESIDENT_NOTES | {
    "return",
    "escalate",
    "request_extension",
    "refuse_extension",
    "supervise",
    "reject_verification",
    "escalate_to_supervisor",
    "reroute",
}


def show_status(conv: Conversation, ticket: TicketView) -> None:
    """Reply with a ticket's status, its timeline and the actions open to a resident."""
    text = conv.t(
        "status.summary",
        number=ticket.number,
        status=status_label(ticket.status, conv.lang),
        category=category_name(conv.city, ticket.category_code, conv.lang),
        place=place_text(conv.city, ticket, conv.lang),
        text=ticket.text[:60],
    )
    if ticket.merged_into is not None:
        text += "\n" + conv.t("status.merged_into", number=ticket.merged_into)
    text += "\n" + timeline(conv, ticket)
    buttons: list[tuple[str, str]] = []
    if conv.staff is None and ticket.reported_by_speaker:
        if ticket.status in ("submitted", "dispatched", "returned"):
            buttons.append((conv.t("button.cancel_ticket"), f"cancel:{ticket.number}"))
        if ticket.status not in ("closed", "cancelled", "merged"):
            buttons.append((conv.t("button.add_details"), f"add:{ticket.number}"))
        if ticket.status in ("verified", "closed") and not ticket.rated_since_resolution:
            buttons += rating_buttons(conv.lang, ticket.number)
    if buttons:
        conv.choose(text, buttons)
    else:
        conv.say_text(text)


def rating_buttons(lang: str, number: str) -> list[tuple[str, str]]:
    """满意 / 基本满意 / 不满意 buttons for a ticket."""
    return [(t(f"rating.{score}", lang), f"rate:{number}:{score}") for score in RATING_SCORES]

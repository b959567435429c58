"""A staff member reveals a ticket's masked contact details in chat: the 联系方式 button, a reason, the details.

Only roles and areas that need them may (backend/domain/privacy.py); every reveal is in the privacy log.
"""

from __future__ import annotations

from backend.domain.errors import DomainError
from bot.flows.conversation import Conversation

FLOW = "contact"
VERB = "contact"


def button(conv: Conversation, number: str) -> list[tuple[str, str]]:
    """The 联系方式 button for a task card, if the speaker may reveal this ticket's contact details."""
    return [(conv.t("verb.contact"), f"task:{VERB}:{number}")] if conv.casework.may_reveal(number) else []


def begin(conv: Conversation, number: str) -> None:
    """Ask why the details are needed."""
    if not conv.casework.may_reveal(number):
        conv.say("contact.not_allowed", number=number)
        return
    conv.begin(FLOW, "reason", number=number)
    conv.say("contact.ask_reason", number=number)


def on_reason(conv: Conversation) -> None:
    """The reason given: reveal and record."""
    number = conv.data.get("number", "")
    if not conv.text:
        conv.say("contact.ask_reason", number=number)
        return
    reason = conv.text
    conv.reset()
    try:
        contact = conv.casework.reveal(number, reason)
    except DomainError as exc:
        conv.refuse(exc)
        return
    none = conv.t("privacy.none")
    conv.say(
        "contact.shown",
        number=number,
        text=contact.text[:300],
        place=contact.location_text or none,
        phone=contact.phone or none,
        home=contact.home or none,
    )

"""The dashboard's words for codes (statuses, lights, roles, actions, tiers, channels …), from the catalogue.

Each concept has one catalogue key per code, `dash.<kind>.<code>`, in zh and en; pages never show a code.
"""

from __future__ import annotations

from backend.domain.tickets import TicketStatus
from backend.texts import DEFAULT_LANG, catalogue, t

STATUSES = tuple(s.value for s in TicketStatus)
LIGHTS = ("green", "yellow", "red")
# Actions the ticket page offers as buttons (others happen in the field or through the bot).
DASHBOARD_ACTIONS = (
    "dispatch",
    "escalate",
    "approve_extension",
    "refuse_extension",
    "close",
    "verify",
    "reject_verification",
    "suspend",
    "resume",
    "return",
    "reopen",
    "escalate_to_supervisor",
    "cancel",
    "merge",
)
# Of those, the ones with their own form on the ticket page (a required reason, the primary ticket's number).
OWN_FORM_ACTIONS = ("reopen", "escalate_to_supervisor", "cancel", "merge")
BULK_ACTIONS = ("dispatch", "escalate", "close")


def label(kind: str, code: str | None, lang: str = DEFAULT_LANG) -> str:
    """The word for a code of a kind (status, light, role, action, tier, priority, score, channel, state)."""
    if not code:
        return t("dash.none", lang)
    key = f"dash.{kind}.{code}"
    if key not in catalogue():
        return t("dash.unknown_code", lang, code=code)
    return t(key, lang)


def names(kind: str, codes: tuple[str, ...], lang: str = DEFAULT_LANG) -> dict[str, str]:
    """Code → word for several codes of a kind, in their order."""
    return {code: label(kind, code, lang) for code in codes}


def config_name(kind: str, code: str, name: str, lang: str = DEFAULT_LANG) -> str:
    """A category's or department's name in a language: the config's own (Chinese) name unless translated."""
    key = f"dash.{kind}.{code}"
    return t(key, lang) if lang != DEFAULT_LANG and key in catalogue() else name

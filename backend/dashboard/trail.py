"""The audit trail in words: event notes that carry codes (tiers, lights, categories) shown by their labels."""

from __future__ import annotations

import re
from collections.abc import Mapping

from backend.dashboard.labels import label
from backend.texts import t

_ESCALATE = re.compile(r"^(\w+)→(\w+): ?(.*)$", re.S)  # backend.domain.tickets: "grid→community: reason"
_LIGHT = re.compile(r"^预警亮灯：(\w+) → (\w+)$")  # backend.services.sla_job
_REROUTE = re.compile(r"^分类更正：(\w+) → (\w+)$")  # backend.services.corrections


def event_note(action: str, note: str | None, categories: Mapping[str, str], lang: str) -> str | None:
    """An event's note for people: codes inside it replaced by their words; None when there is nothing to say."""
    if not note:
        return None
    if action == "escalate" and (m := _ESCALATE.match(note)):
        moved = t("dash.trail.escalate", lang, from_tier=label("tier", m[1], lang), to_tier=label("tier", m[2], lang))
        reason = m[3].strip()
        return f"{moved}：{reason}" if reason and reason != "None" else moved
    if action == "light" and (m := _LIGHT.match(note)):
        return t("dash.trail.light", lang, old=label("light", m[1], lang), new=label("light", m[2], lang))
    if m := _REROUTE.match(note):
        return t("dash.trail.category", lang, old=categories.get(m[1], m[1]), new=categories.get(m[2], m[2]))
    return note

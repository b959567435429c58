"""Outbox notifications (kind + payload rows from backend/services/notify.py) as neutral messages."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from backend.domain.notifications import RESIDENT_KINDS, NoticeKind
from backend.settings import get_settings
from backend.texts import lang_of, t
from bot.flows.common import rating_buttons
from bot.messages import Button, Outbound, OutboundKind

logger = logging.getLogger(__name__)

# The buttons on each staff card, as task verbs (see bot/flows/staff.py VERBS).
CARD_VERBS: dict[NoticeKind, tuple[str, ...]] = {
    NoticeKind.task_new: ("accept", "return", "escalate", "extend"),
    NoticeKind.task_escalated: ("accept", "return", "escalate", "extend"),
    NoticeKind.task_reminder: ("view",),
    NoticeKind.desk_new: ("desk", "view"),
    NoticeKind.urgent_alarm: ("ack", "view"),
    NoticeKind.supervise: ("view",),
    NoticeKind.task_returned: ("view",),
    NoticeKind.task_rework: ("resolve", "escalate", "extend", "view"),
    NoticeKind.task_reopened: ("accept", "return", "escalate", "extend"),
    NoticeKind.task_cancelled: ("view",),
    NoticeKind.task_withdrawn: (),
    NoticeKind.task_contact_withdrawn: ("view",),
    NoticeKind.extension_request: ("approve", "refuse", "view"),
    NoticeKind.extension_decided: ("view",),
    NoticeKind.verify_request: ("verify", "reject", "view"),
}


@lru_cache(maxsize=1)
def _category_names() -> dict[str, str]:
    from backend.cityconfig.yamlfiles import read_yaml

    try:
        raw = read_yaml(get_settings().config_dir / "taxonomy.yaml", "categories")
    except Exception:  # rendering must not fail on a config problem; codes are shown instead
        logger.exception("cannot read the taxonomy for category names")
        return {}
    return {str(sub["code"]): str(sub["name"]) for cat in raw for sub in cat.get("subcategories", [])}


def _category(code: str | None, lang: str) -> str:
    if not code:
        return t("category.unknown", lang)
    return _category_names().get(code, code) if lang == "zh" else code.replace("_", " ")


def _due(value: str | None) -> str:
    if not value:
        return "—"
    try:
        return datetime.fromisoformat(value).astimezone(ZoneInfo(get_settings().timezone)).strftime("%m-%d %H:%M")
    except ValueError:
        return value


def params_of(payload: dict[str, Any], lang: str) -> dict[str, Any]:
    """The catalogue parameters of a notification payload."""
    reason = payload.get("reason") or payload.get("note") or ""
    return {
        "number": payload.get("number", ""),
        "category": _category(payload.get("category"), lang),
        "status": t(f"status.{payload['status']}", lang) if payload.get("status") else "",
        "place": payload.get("location") or t("place.unknown", lang),
        "text": str(payload.get("text") or "")[:120],
        "due": _due(payload.get("due_at")),
        "light": t(f"light.{payload.get('light', 'green')}", lang),
        "reason": reason,
        "reason_line": t("notice.reason_line", lang, reason=reason) if reason else "",
        "priority": t("priority.urgent", lang) if payload.get("priority") == "urgent" else "",
        "into": payload.get("into", ""),
        "holder": t(f"holder.{payload['tier']}", lang) if payload.get("tier") else "",
        "rework": payload.get("rework", ""),
    }


def _notice_kind(kind: str) -> NoticeKind | None:
    try:
        return NoticeKind(kind)
    except ValueError:
        return None


# Buttons on a list message (task_batch, desk_batch), one per ticket: the first of them (the rest are in "my
# tasks" or on the desk).
BATCH_BUTTONS = 10
# Each list kind: the verb of its buttons (task:view opens the task to accept; task:desk triages in chat).
_BATCH_VERBS = {NoticeKind.task_batch: "view", NoticeKind.desk_batch: "desk"}


def _batch(notice: NoticeKind, payload: dict[str, Any], lang: str) -> Outbound:
    """Notices folded into one message (a task list like "my tasks", a desk list); a plain payload is a list of one."""
    items = payload.get("items") or [payload]
    tickets = [params_of(item, lang) for item in items]
    if notice is NoticeKind.desk_batch:
        for params, item in zip(tickets, items, strict=True):
            params["reason"] = _desk_reason(item, lang)
    lines = [t(f"notice.{notice}.line", lang, **p) for p in tickets]
    verb = _BATCH_VERBS[notice]
    buttons = tuple(Button(p["number"], f"task:{verb}:{p['number']}") for p in tickets[:BATCH_BUTTONS])
    return Outbound(
        OutboundKind.card,
        title=t(f"notice.title.{notice}", lang, count=len(tickets)),
        text="\n".join([*lines, t(f"notice.{notice}.hint", lang)]),
        buttons=buttons,
    )


def _desk_reason(payload: dict[str, Any], lang: str) -> str:
    return t(f"desk.reason.{payload.get('reason') or 'unsure'}", lang)


def render_notification(kind: NoticeKind | str, payload: dict[str, Any], lang: str) -> list[Outbound]:
    """The messages for one outbox row, in the recipient's language (payload["lang"] wins if set)."""
    lang = lang_of(payload.get("lang") or lang)
    p = params_of(payload, lang)
    number = p["number"]
    notice = _notice_kind(kind)
    if notice in RESIDENT_KINDS:
        text = t(f"notice.{notice}", lang, **p)
        if notice is NoticeKind.resolved:
            return [Outbound.choose(text, *(Button(label, data) for label, data in rating_buttons(lang, number)))]
        return [Outbound.say(text)]
    if notice is NoticeKind.digest:
        from bot.digest import digest_messages

        return digest_messages(payload, lang)
    if notice is NoticeKind.public_report:
        from bot.public_report import report_messages

        return report_messages(payload, lang, _category)
    if notice is not None and notice in _BATCH_VERBS:
        return [_batch(notice, payload, lang)]
    if notice is NoticeKind.desk_new:
        p["reason"] = _desk_reason(payload, lang)
    if notice is NoticeKind.urgent_alarm:
        p["level"] = t(f"alarm.level.{payload.get('level', 'district')}", lang)
    if notice in CARD_VERBS:
        body = t("notice.card_body", lang, **p)
        if notice not in (NoticeKind.task_new, NoticeKind.task_escalated):
            # A decision (延期 approved/refused; 作废 or merged) picks its own words.
            key = f"notice.{notice}.{payload['decision']}" if payload.get("decision") else f"notice.{notice}"
            body = t(key, lang, **p) + "\n" + body
        buttons = tuple(Button(t(f"verb.{v}", lang), f"task:{v}:{number}") for v in CARD_VERBS[notice])
        return [Outbound(OutboundKind.card, title=t(f"notice.title.{notice}", lang, **p), text=body, buttons=buttons)]
    logger.warning("no rendering for notification kind %s", kind)
    return [Outbound.say(t("notice.generic", lang, **p))]

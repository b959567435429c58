"""向群众汇报 as a chat message: the week's figures of the resident's area, in their language."""

from __future__ import annotations

from typing import Any

from backend.texts import t
from bot.messages import Outbound


def percent(rate: Any, lang: str) -> str:
    """A rate as a percentage, or 'none yet'."""
    return f"{float(rate) * 100:.0f}%" if rate is not None else t("report.none", lang)


def report_messages(payload: dict[str, Any], lang: str, category: Any) -> list[Outbound]:
    """The report text from a PublicReport payload; `category(code, lang)` names a subcategory."""
    sep = "、" if lang == "zh" else ", "
    hot = sep.join(f"{category(code, lang)} {n}" for code, n in payload.get("hot") or [])
    hours = payload.get("median_hours")
    text = t(
        "notice.public_report",
        lang,
        area=payload.get("area_name", ""),
        start=payload.get("start", ""),
        end=payload.get("end", ""),
        reported=payload.get("reported", 0),
        fixed=payload.get("fixed", 0),
        hours=t("report.hours", lang, hours=hours) if hours is not None else t("report.none", lang),
        on_time=percent(payload.get("on_time_rate"), lang),
        satisfaction=percent(payload.get("satisfaction_rate"), lang),
        hot=hot or t("report.none", lang),
        url=payload.get("url", ""),
    )
    return [Outbound.say(text)]

"""What an outbox delivery says: stored chat replies, or a notification rendered from the catalogue."""

from __future__ import annotations

from backend.domain.notifications import NoticeKind
from backend.workers.channels import Delivery
from bot.messages import Outbound, outbound_from_json
from bot.render import render_notification


def delivery_messages(delivery: Delivery) -> list[Outbound]:
    """The messages of one outbox delivery, in the recipient's language."""
    payload = dict(delivery.payload)
    if delivery.kind == NoticeKind.chat_reply:  # already-rendered replies (payload = outbound_to_json)
        return outbound_from_json(payload)
    return list(render_notification(delivery.kind, payload, str(payload.get("lang") or "zh")))

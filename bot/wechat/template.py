"""WeChat template messages: the outbox fallback that may reach a user outside the 48-hour window, and its sender."""

from __future__ import annotations

import logging

from wechatpy.client import WeChatClient

from backend.workers.channels import AddressBook, Delivery, PermanentChannelError
from bot.outbound import delivery_messages
from bot.wechat.send import plain, wechat_errors

logger = logging.getLogger(__name__)

# Fallback rows for WeChat template messages go on their own channel so they get their own sender.
WECHAT_TEMPLATE_CHANNEL = "wechat_template"


def template_fallback(delivery: Delivery, error: PermanentChannelError, address_on: AddressBook) -> Delivery | None:
    """A WeChat template message for a delivery a channel refused for good; None if the person has no openid."""
    if delivery.channel == WECHAT_TEMPLATE_CHANNEL:
        return None
    openid = delivery.recipient if delivery.channel == "wechat" else address_on("wechat")
    if openid is None:
        return None
    logger.info(
        "notification %s: %s; falling back to a template message", delivery.notification_id, type(error).__name__
    )
    return Delivery(
        notification_id=None,
        channel=WECHAT_TEMPLATE_CHANNEL,
        recipient=openid,
        kind=delivery.kind,
        payload={**delivery.payload, "fallback_from": delivery.channel, "fallback_reason": str(error)},
        idempotency_key=f"{delivery.idempotency_key[:190]}:tpl",
    )


class WeChatTemplateSender:
    """Sends a delivery as one template message summarising it."""

    def __init__(self, client: WeChatClient, *, template_id: str, url: str | None = None) -> None:
        self.client = client
        self.template_id = template_id
        self.url = url

    def close(self) -> None:
        """Close the HTTP session."""
        self.client._http.close()

    def send(self, delivery: Delivery) -> None:
        """Send one template message summarising the delivery."""
        if not self.template_id:
            raise PermanentChannelError("wechat template: no template id configured")
        payload = delivery.payload
        text = "\n".join(plain(m) for m in delivery_messages(delivery) if plain(m))
        data = {
            "first": {"value": text[:200]},
            "keyword1": {"value": str(payload.get("number") or "")},
            "keyword2": {"value": str(payload.get("status") or delivery.kind)},
            "remark": {"value": ""},
        }
        with wechat_errors("wechat template send"):
            self.client.message.send_template(delivery.recipient, self.template_id, data, url=self.url)

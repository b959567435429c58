"""The WeCom outbox sender: application messages — text, and template cards (button_interaction) whose
button presses come back to /wecom as template_card_event."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from wechatpy.enterprise.client import WeChatClient

from backend.workers.channels import BlockedError, Delivery
from bot.messages import Outbound
from bot.outbound import delivery_messages
from bot.wechat.send import keep_connections, plain, wechat_errors

if TYPE_CHECKING:
    from backend.settings import Settings

logger = logging.getLogger(__name__)

# WeCom's limits for a button_interaction card.
MAX_BUTTONS = 6
TITLE_CHARS = 26
SUBTITLE_CHARS = 112
BUTTON_CHARS = 20  # WeCom recommends 10; ticket numbers as labels need more


class ApiBaseWeComClient(WeChatClient):  # type: ignore[misc]
    """wechatpy.enterprise client that fetches its token from API_BASE_URL (1.8.18 hard-codes qyapi)."""

    def __init__(
        self, corp_id: str, secret: str, *, api_base: str, timeout: float = 10.0, access_token: str | None = None
    ) -> None:
        super().__init__(corp_id, secret, access_token=access_token, timeout=timeout)
        self.API_BASE_URL = api_base
        keep_connections(self._http)

    def fetch_access_token(self) -> Any:
        """Fetch a token from <api_base>gettoken."""
        return self._fetch_access_token(
            url=self.API_BASE_URL + "gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}
        )


def make_wecom_client(settings: Settings) -> ApiBaseWeComClient:
    """The WeCom API client for the configured corp and API base."""
    return ApiBaseWeComClient(
        settings.wecom_corp_id, settings.wecom_secret.get_secret_value(), api_base=settings.wecom_api_base
    )


def task_id(key: str, index: int) -> str:
    """A card's task id: unique per notification and message, in WeCom's allowed characters."""
    return f"{hashlib.sha1(key.encode()).hexdigest()[:32]}_{index}"


def template_card(message: Outbound, task: str) -> dict[str, Any]:
    """A button_interaction template card for a message with buttons (the title, when given, as main title)."""
    card: dict[str, Any] = {
        "card_type": "button_interaction",
        "task_id": task,
        "button_list": [
            {"text": b.label[:BUTTON_CHARS], "style": 1 if i == 0 else 2, "key": b.data}
            for i, b in enumerate(message.buttons[:MAX_BUTTONS])
        ],
    }
    if message.title:
        card["main_title"] = {"title": message.title[:TITLE_CHARS]}
    if message.text or not message.title:
        card["sub_title_text"] = message.text[:SUBTITLE_CHARS]
    return card


class WeComSender:
    """Sends a delivery's messages as WeCom application messages to one member."""

    def __init__(self, client: WeChatClient, *, agent_id: int) -> None:
        self.client = client
        self.agent_id = agent_id

    def close(self) -> None:
        """Close the HTTP session."""
        self.client._http.close()

    def send(self, delivery: Delivery) -> None:
        """Text as text messages; messages with buttons as template cards (long text sent first in full)."""
        user = delivery.recipient
        for index, message in enumerate(delivery_messages(delivery)):
            with wechat_errors("wecom send"):
                if not message.buttons:
                    if plain(message):
                        self.client.message.send_text(self.agent_id, [user], plain(message))
                    continue
                card = template_card(message, task_id(delivery.idempotency_key, index))
                if len(message.text) > SUBTITLE_CHARS:
                    self.client.message.send_text(self.agent_id, [user], plain(message))
                result = self.client.message.send(
                    self.agent_id, [user], msg={"msgtype": "template_card", "template_card": card}
                )
                if isinstance(result, dict) and result.get("invaliduser"):
                    raise BlockedError(f"wecom: {user} is not reachable by this app")

"""A minimal Telegram Bot API sender (sendMessage, JSON), with the error mapping to our errors.

The real sender (bot/telegram/send.py, on python-telegram-bot) is the one production uses; this one keeps the
outbox testable and benchmarkable against the fake Bot API server without PTB's event loop thread. It speaks
through httpcore, the connection pool underneath httpx: per request it costs about half of httpx's CPU,
which is what limits the benchmark on a small machine.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpcore

from backend.workers.channels import BlockedError, Delivery, PermanentChannelError, TransientChannelError

logger = logging.getLogger(__name__)

# Telegram's 403 descriptions meaning the chat is gone for good.
_BLOCKED_MARKERS = (
    "bot was blocked by the user",
    "user is deactivated",
    "bot was kicked",
    "bot can't initiate conversation",
)


def plain_text(delivery: Delivery) -> str:
    """A neutral rendering (kind, ticket number, status) for when no message catalogue is given."""
    p = delivery.payload
    parts = [delivery.kind, str(p.get("number") or ""), str(p.get("status") or "")]
    return " ".join(part for part in parts if part) or delivery.kind


class TelegramHttpSender:
    """Sends a delivery as one sendMessage call to <api_base><token>/sendMessage."""

    def __init__(
        self,
        api_base: str,
        token: str,
        *,
        render: Callable[[Delivery], str] = plain_text,
        timeout: float = 10.0,
        max_connections: int = 64,
    ) -> None:
        self.url = f"{api_base}{token}/sendMessage"
        self.render = render
        self._timeouts = {"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}}
        self.pool = httpcore.ConnectionPool(max_connections=max_connections, max_keepalive_connections=max_connections)

    def close(self) -> None:
        """Close the connection pool."""
        self.pool.close()

    def send(self, delivery: Delivery) -> None:
        """Post one message; raise TransientChannelError, BlockedError or PermanentChannelError on failure."""
        body: dict[str, Any] = {"chat_id": delivery.recipient, "text": self.render(delivery)}
        markup = delivery.payload.get("reply_markup")
        if markup:
            body["reply_markup"] = markup
        try:
            response = self.pool.request(
                "POST",
                self.url,
                headers=_HEADERS,
                content=json.dumps(body, ensure_ascii=False).encode(),
                extensions=self._timeouts,
            )
        except httpcore.TimeoutException as exc:
            raise TransientChannelError(f"telegram timeout: {type(exc).__name__}") from exc
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise TransientChannelError(f"telegram transport error: {type(exc).__name__}") from exc
        raise_for_telegram(response.status, response.content)


_HEADERS: dict[bytes | str, bytes | str] = {"Content-Type": "application/json"}


def raise_for_telegram(status: int, content: bytes) -> None:
    """Map a Bot API answer (status, body) to our channel errors (nothing on success)."""
    try:
        data: Any = json.loads(content)
    except ValueError:
        data = {}
    if status == 200 and isinstance(data, dict) and data.get("ok"):
        return
    description = str(data.get("description", "")) if isinstance(data, dict) else ""
    if status == 429:
        params = data.get("parameters") or {} if isinstance(data, dict) else {}
        retry_after = params.get("retry_after")
        raise TransientChannelError(
            f"telegram 429: {description}", retry_after=float(retry_after) if retry_after is not None else None
        )
    if status >= 500:
        raise TransientChannelError(f"telegram {status}: {description}")
    if status == 403 and any(marker in description.lower() for marker in _BLOCKED_MARKERS):
        raise BlockedError(f"telegram 403: {description}")
    raise PermanentChannelError(f"telegram {status}: {description}")

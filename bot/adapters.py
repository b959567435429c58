"""Wiring of the chat platforms: mount their webhooks on the app, build their outbox senders.

Also the pieces every adapter shares: reading a bounded body, letting only a first delivery through,
and rendering an outbox row (replies the passive answer could not carry are queued by the engine, in
the turn's own commit).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import FastAPI, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import InboundMessage, Notification
from backend.domain.notifications import NoticeKind
from backend.runtime import Runtime
from backend.workers.channels import Fallback, Sender
from bot.messages import Inbound, Outbound

if TYPE_CHECKING:
    from backend.settings import Settings

logger = logging.getLogger(__name__)


class Engine(Protocol):
    """What the adapters need of the conversation engine."""

    def handle_once(
        self, inbound: Inbound, *, outbox: Callable[[list[Outbound]], list[Outbound]] | None = None
    ) -> list[Outbound]: ...


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, or 413 once it grows past max_bytes (also for bodies without Content-Length)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise HTTPException(status_code=413, detail="request body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HTTPException(status_code=413, detail="request body too large")
        chunks.append(chunk)
    return b"".join(chunks)


class FirstDelivery:
    """Lets through only the first delivery of a platform message id.

    The engine's handle_once gives a redelivery the stored reply; our adapters never need it (a reply
    that missed the platform's deadline goes through the outbox instead), so a redelivery, or a copy
    arriving while the first is still being answered, is acknowledged without a reply.
    """

    def __init__(self, session_factory: sessionmaker[Session], channel: str) -> None:
        self.session_factory = session_factory
        self.channel = channel
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()

    def claim(self, key: str) -> bool:
        """True for the first delivery of key (call release() when done with it)."""
        with self._lock:
            if key in self._in_flight:
                return False
            self._in_flight.add(key)
        try:
            with self.session_factory() as session:
                seen = session.scalar(
                    select(InboundMessage.id).where(
                        InboundMessage.channel == self.channel, InboundMessage.message_key == key[:128]
                    )
                )
        except BaseException:
            self.release(key)  # or the platform's redelivery would be taken for a copy in flight
            raise
        if seen is not None:
            self.release(key)
            return False
        return True

    def release(self, key: str) -> None:
        """Forget an in-flight key."""
        with self._lock:
            self._in_flight.discard(key)


def notification_messages(notification: Notification) -> list[Outbound]:
    """What an outbox row says: stored chat replies, or a notification rendered from the catalogue."""
    payload: dict[str, Any] = dict(notification.payload or {})
    if notification.kind == NoticeKind.chat_reply:  # payload = bot.engine.outbound_to_json
        from bot.engine import outbound_from_json

        return outbound_from_json(payload)
    from bot.render import render_notification

    return list(render_notification(notification.kind, payload, str(payload.get("lang") or "zh")))


def mount_channels(app: FastAPI, runtime: Runtime, session_factory: sessionmaker[Session], engine: Engine) -> None:
    """Mount /wechat always, /wecom when a WeCom AES key is set, /telegram/webhook when a bot token is set."""
    from bot.wechat.route import wechat_router

    settings = runtime.settings
    app.include_router(wechat_router(settings=settings, engine=engine, session_factory=session_factory))
    if settings.wecom_aes_key:
        from bot.wecom.route import wecom_router

        app.include_router(wecom_router(settings=settings, engine=engine, session_factory=session_factory))
    if settings.telegram_token.get_secret_value():
        from bot.telegram.route import mount_telegram

        mount_telegram(app, settings=settings, engine=engine, session_factory=session_factory)


def build_senders(settings: Settings, session_factory: sessionmaker[Session] | None = None) -> dict[str, Sender]:
    """The outbox senders for every configured channel (WeChat's checks the 48-hour window when given sessions)."""
    senders: dict[str, Sender] = {}
    if settings.wechat_app_secret.get_secret_value():
        from bot.wechat.send import WeChatSender, WeChatTemplateSender, make_wechat_client

        client = make_wechat_client(settings)
        senders["wechat"] = WeChatSender(client, session_factory=session_factory)
        senders[WECHAT_TEMPLATE_CHANNEL] = WeChatTemplateSender(client, template_id=settings.wechat_template_id)
    if settings.wecom_secret.get_secret_value():
        from bot.wecom.send import WeComSender, make_wecom_client

        senders["wecom"] = WeComSender(make_wecom_client(settings), agent_id=settings.wecom_agent_id)
    if settings.telegram_token.get_secret_value():
        from bot.telegram.send import TelegramSender

        senders["telegram"] = TelegramSender.from_settings(settings)
    return senders


def close_senders(senders: dict[str, Sender]) -> None:
    """Release the senders' connections and threads."""
    for sender in senders.values():
        close = getattr(sender, "close", None)
        if close is not None:
            close()


# Fallback rows for WeChat template messages go on their own channel so they get their own sender.
WECHAT_TEMPLATE_CHANNEL = "wechat_template"


def build_fallback(settings: Settings) -> Fallback | None:
    """The outbox fallback: a WeChat template message when one is configured, else None (dead-letter)."""
    if not (settings.wechat_template_id and settings.wechat_app_secret.get_secret_value()):
        return None
    from bot.wechat.send import template_fallback

    return template_fallback

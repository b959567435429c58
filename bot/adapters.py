"""Wiring of the chat platforms: mount their webhooks on the app, build their outbox senders and fallback.

What the webhooks share lives in bot/webhook; what an outbox delivery says, in bot/outbound.py.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from backend.runtime import Runtime
from backend.workers.channels import Fallback, Sender
from bot.inbox import close_reply_signals
from bot.lifespan import run_during
from bot.telegram.route import mount_telegram
from bot.telegram.send import TelegramSender
from bot.webhook.chat import Chat
from bot.wechat.route import wechat_router
from bot.wechat.send import WeChatSender, make_wechat_client
from bot.wechat.template import WECHAT_TEMPLATE_CHANNEL, WeChatTemplateSender, template_fallback
from bot.wecom.route import wecom_router
from bot.wecom.send import WeComSender, make_wecom_client

if TYPE_CHECKING:
    from backend.settings import Settings

logger = logging.getLogger(__name__)


def mount_channels(app: FastAPI, runtime: Runtime, session_factory: sessionmaker[Session], chat: Chat) -> None:
    """Mount /wechat always, /wecom when a WeCom AES key is set, /telegram/webhook when a bot token is set."""
    settings = runtime.settings
    before = len(app.router.routes)
    app.include_router(wechat_router(settings=settings, chatbot=chat, session_factory=session_factory))
    if settings.wecom_aes_key:
        app.include_router(wecom_router(settings=settings, chatbot=chat, session_factory=session_factory))
    if settings.telegram_token.get_secret_value():
        mount_telegram(app, settings=settings, chatbot=chat, session_factory=session_factory)
    # The router tries routes in order, and the webhooks are the busiest paths: first, they skip matching
    # against every API and dashboard route (a tenth of an acknowledgement's CPU). No other path overlaps.
    routes = app.router.routes
    routes[:] = routes[before:] + routes[:before]

    @asynccontextmanager
    async def reply_listener_closed() -> AsyncIterator[None]:
        try:
            yield
        finally:
            close_reply_signals(session_factory)  # the webhooks' listener, if they waited through the database

    run_during(app, reply_listener_closed)


def build_senders(settings: Settings) -> dict[str, Sender]:
    """The outbox senders for every configured channel."""
    senders: dict[str, Sender] = {}
    if settings.wechat_app_secret.get_secret_value():
        client = make_wechat_client(settings)
        senders["wechat"] = WeChatSender(client)
        senders[WECHAT_TEMPLATE_CHANNEL] = WeChatTemplateSender(client, template_id=settings.wechat_template_id)
    if settings.wecom_secret.get_secret_value():
        senders["wecom"] = WeComSender(make_wecom_client(settings), agent_id=settings.wecom_agent_id)
    if settings.telegram_token.get_secret_value():
        senders["telegram"] = TelegramSender.from_settings(settings)
    return senders


def close_senders(senders: dict[str, Sender]) -> None:
    """Release the senders' connections and threads."""
    for sender in senders.values():
        close = getattr(sender, "close", None)
        if close is not None:
            close()


def build_fallback(settings: Settings) -> Fallback | None:
    """The outbox fallback: a WeChat template message when one is configured, else None (dead-letter)."""
    if not (settings.wechat_template_id and settings.wechat_app_secret.get_secret_value()):
        return None
    return template_fallback

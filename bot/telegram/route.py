"""Telegram on python-telegram-bot v22: the Application (webhook mode, `.updater(None)`), the
/telegram/webhook route with its secret-token check, and long polling for local development."""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.chatbot import TurnUnavailable
from bot.inbox import InboxWriter
from bot.lifespan import run_during
from bot.messages import Inbound, Outbound
from bot.telegram.convert import CHANNEL, send_outbound, to_inbound
from bot.telegram.shape import check_update
from bot.webhook.body import read_body
from bot.webhook.chat import Chat
from bot.webhook.claims import FirstDelivery
from bot.webhook.deadline import chat_turn_pool, database_checks

if TYPE_CHECKING:
    from backend.settings import Settings

logger = logging.getLogger(__name__)

# The updates the bot reads: edited_message carries edits of a report's words and a live location's moves.
# Long polling asks for these; a webhook registered with setWebhook should list the same (docs/CHANNELS.md).
ALLOWED_UPDATES = (Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY)
# bot_data key of the updates whose turn found the database unavailable.
UNAVAILABLE = "gridbot.unavailable"


def file_base_url(api_base: str) -> str:
    """The file download base for a Bot API base: …/bot → …/file/bot."""
    head, sep, tail = api_base.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}" if sep else api_base + "file/"


def build_application(
    settings: Settings,
    chatbot: Chat,
    *,
    polling: bool = False,
    first: FirstDelivery | None = None,
    outbox: sessionmaker[Session] | None = None,
    store: Callable[[Inbound], Awaitable[bool]] | None = None,
) -> Application:  # type: ignore[type-arg]
    """The PTB Application that turns every update into one chatbot turn and delivers the replies.

    With `outbox` (webhook mode) the replies are queued as outbox rows that `gridbot worker` sends, like
    every other platform call; without it (long polling for development) they are sent at once.
    `first` drops redelivered updates: Telegram redelivers an update whose webhook call failed, and its
    replies were queued the first time. With `store` (the durable inbox) an update is only parsed and stored
    (a redelivery stores nothing new); an inbox processor runs its turn later and queues its replies.
    """
    builder = (
        Application.builder()
        .token(settings.telegram_token.get_secret_value())
        .base_url(settings.telegram_api_base)
        .base_file_url(file_base_url(settings.telegram_api_base))
    )
    if not polling:
        builder = builder.updater(None)
    application = builder.build()
    max_photo = settings.upload_max_bytes
    pool = chat_turn_pool(settings.database_url)
    unavailable: dict[int, Exception] = {}

    async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            try:
                await update.callback_query.answer()
            except TelegramError as exc:  # an old query; the press still counts
                logger.info("telegram: answerCallbackQuery failed: %s", type(exc).__name__)
        try:
            await answer(update, context)
        except (TurnUnavailable, OperationalError, InterfaceError) as exc:
            logger.warning("telegram: update %s not taken, database unavailable", update.update_id)
            unavailable[update.update_id] = exc

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if store is not None:
            inbound = await to_inbound(update, context.bot, max_photo_bytes=max_photo)
            if inbound is not None and update.effective_chat is not None:
                await store(inbound)
            return
        key = str(update.update_id)
        if first is not None:
            running = first.running(key)
            if running is not None:
                await running  # the first delivery's turn: TurnUnavailable if the database failed it
            if running is not None or not await first.claim(key):
                logger.info("telegram: update %s already handled", key)
                return
        try:
            inbound = await to_inbound(update, context.bot, max_photo_bytes=max_photo)
            if inbound is None or update.effective_chat is None:
                return
            # In webhook mode every reply is queued for the outbox in the turn's own commit.
            work = functools.partial(chatbot.handle_once, inbound, outbox=_everything if outbox else None)
            turn = asyncio.get_running_loop().run_in_executor(pool, work)
            if first is not None:
                first.follow(key, turn)
            out = await turn
            if outbox:
                return
            for message in out:
                await send_outbound(context.bot, update.effective_chat.id, message, inbound.language)
        finally:
            if first is not None:
                first.release(key)

    application.add_handler(TypeHandler(Update, on_update))
    # PTB hands a handler's exception to error handlers, never to process_update's caller: turns the
    # database could not take are noted here, and the webhook answers 503 so Telegram delivers them again.
    application.bot_data[UNAVAILABLE] = unavailable
    return application


def _everything(out: list[Outbound]) -> list[Outbound]:
    return out


def mount_telegram(
    app: FastAPI, *, settings: Settings, chatbot: Chat, session_factory: sessionmaker[Session]
) -> Application:  # type: ignore[type-arg]
    """Add POST /telegram/webhook and start/stop the PTB Application with the app's lifespan."""
    if settings.inbox_enabled:
        writes_on = database_checks(chat_turn_pool(settings.database_url), sqlite=settings.is_sqlite)
        application = build_application(
            settings, chatbot, outbox=session_factory, store=InboxWriter(session_factory, writes_on).store
        )
    else:
        application = build_application(
            settings, chatbot, first=FirstDelivery(session_factory, CHANNEL), outbox=session_factory
        )
    secret = settings.telegram_secret.get_secret_value().encode()
    max_bytes = settings.request_max_bytes
    app.state.telegram = application

    @asynccontextmanager
    async def application_running() -> AsyncIterator[None]:
        await application.initialize()  # getMe
        try:
            yield
        finally:
            await application.shutdown()

    run_during(app, application_running)

    async def telegram_webhook(request: Request) -> JSONResponse:
        """One update from Telegram: the chatbot turn runs and its replies are queued before we return (or,
        with the inbox on, the update is stored for an inbox processor)."""
        given = request.headers.get("x-telegram-bot-api-secret-token", "").encode()
        if not hmac.compare_digest(given, secret):
            raise HTTPException(status_code=403, detail="bad secret token")
        body = await read_body(request, max_bytes)
        try:
            data = json.loads(body)
            check_update(data)  # PTB trusts the JSON's types
            update = Update.de_json(data, application.bot)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            logger.warning("telegram: refused update: %s", type(exc).__name__)
            raise HTTPException(status_code=400, detail="bad update") from None
        if update is None:
            raise HTTPException(status_code=400, detail="bad update")
        await application.process_update(update)
        if application.bot_data[UNAVAILABLE].pop(update.update_id, None) is not None:
            raise HTTPException(status_code=503, detail="temporarily unavailable")
        return JSONResponse({"ok": True})

    # A plain starlette route, as /wechat: no FastAPI parameter machinery for one header.
    app.router.add_route("/telegram/webhook", telegram_webhook, methods=["POST"], include_in_schema=False)
    return application


async def poll(settings: Settings, chatbot: Chat, stop: asyncio.Event) -> None:
    """Long polling for local development: delete any webhook, fetch updates until `stop` is set."""
    application = build_application(settings, chatbot, polling=True)
    async with application:
        await application.bot.delete_webhook()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0, timeout=10, allowed_updates=list(ALLOWED_UPDATES))
        await application.start()
        try:
            await stop.wait()
        finally:
            await application.updater.stop()
            await application.stop()


def run_polling(settings: Settings, chatbot: Chat) -> None:
    """Block in long-polling mode until Ctrl-C (for `gridbot` development use)."""
    stop = asyncio.Event()
    try:
        asyncio.run(poll(settings, chatbot, stop))
    except KeyboardInterrupt:
        logger.info("telegram polling stopped")

"""The Official Account webhook at /wechat: URL verification, signature check, plain and safe (AES) mode.

Without the inbox the chat turn runs inside the request (bot.webhook.deadline); with it (GRIDBOT_INBOX_ENABLED)
the message is stored and a processor runs the turn (bot.webhook.inbox_wait)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy.orm import Session, sessionmaker
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from backend.usecases.channels import NonceUse
from bot.inbox import inbox_replies
from bot.messages import Inbound, InboundKind
from bot.webhook.body import read_body
from bot.webhook.chat import Chat
from bot.webhook.claims import FirstDelivery
from bot.webhook.deadline import (
    ACK_DEADLINE_SECONDS,
    REPLY_BUDGET_SECONDS,
    OutboxChoice,
    ReplyDeadline,
    chat_turn_pool,
    database_checks,
    passive_split,
)
from bot.webhook.replay import ReplayGuard
from bot.wechat.media import photo_bytes
from bot.wechat.parse import to_inbound
from bot.wechat.send import make_wechat_client
from bot.wechat.xmlsafe import safe_fields

if TYPE_CHECKING:
    from backend.settings import Settings

logger = logging.getLogger(__name__)

CHANNEL = "wechat"
# "success" (or an empty body) tells WeChat there is no passive reply and not to retry.
NO_REPLY = "success"


def wechat_router(
    *,
    settings: Settings,
    chatbot: Chat,
    session_factory: sessionmaker[Session],
    reply_budget: float = REPLY_BUDGET_SECONDS,
    ack_deadline: float = ACK_DEADLINE_SECONDS,
) -> APIRouter:
    """The /wechat routes for the configured Official Account."""
    router = APIRouter(tags=["wechat"])
    media_api = make_wechat_client(settings)  # media/get when a photo's PicUrl cannot be fetched
    token = settings.wechat_token.get_secret_value()
    crypto = WeChatCrypto(token, settings.wechat_aes_key, settings.wechat_app_id) if settings.wechat_aes_key else None
    max_bytes = settings.request_max_bytes
    guard = ReplayGuard(session_factory, CHANNEL, window_seconds=settings.webhook_replay_window_seconds)
    pool = chat_turn_pool(settings.database_url)
    checks = database_checks(pool, sqlite=settings.is_sqlite)
    deadline = ReplyDeadline(
        chatbot.handle_once,
        pool,
        first=FirstDelivery(session_factory, CHANNEL, executor=checks),
        budget=reply_budget,
        deadline=ack_deadline,
    )
    stored = inbox_replies(settings, session_factory, checks)

    def verify(signature: str, timestamp: str, nonce: str) -> None:
        try:
            check_signature(token, signature, timestamp, nonce)
        except InvalidSignatureException:
            logger.warning("wechat: bad signature")
            raise HTTPException(status_code=403, detail="invalid signature") from None
        if not guard.fresh(timestamp, nonce):
            logger.warning("wechat: stale timestamp or bad nonce")
            raise HTTPException(status_code=403, detail="stale request") from None

    @router.get("/wechat", include_in_schema=False)
    def verify_url(signature: str, timestamp: str, nonce: str, echostr: str) -> Response:
        """WeChat's URL check: echo echostr back when the signature holds."""
        verify(signature, timestamp, nonce)
        return Response(content=echostr, media_type="text/plain")

    async def receive(request: Request) -> Response:
        """One message or event: answer with a passive reply within WeChat's 5 s."""
        arrived = time.monotonic()
        query = request.query_params
        signature, timestamp, nonce = (query.get(name) for name in ("signature", "timestamp", "nonce"))
        if signature is None or timestamp is None or nonce is None:
            raise HTTPException(status_code=422, detail="signature, timestamp and nonce are required")
        encrypt_type, msg_signature = query.get("encrypt_type", "raw"), query.get("msg_signature")
        verify(signature, timestamp, nonce)
        body = await read_body(request, max_bytes)
        aes = encrypt_type.lower() == "aes"
        if aes != (crypto is not None):
            raise HTTPException(status_code=400, detail="encryption mode does not match the configuration")
        try:
            fields = safe_fields(body)
            if crypto is not None:
                body = crypto.decrypt_message(fields, msg_signature or "", timestamp, nonce).encode()
                fields = safe_fields(body)
            message = parse_message(body)
            inbound = to_inbound(message, fields, channel=CHANNEL)
        except (InvalidSignatureException, InvalidAppIdException):
            logger.warning("wechat: bad msg_signature or app id")
            raise HTTPException(status_code=403, detail="invalid signature") from None
        except Exception as exc:  # malformed XML, undecryptable or corrupt payloads
            logger.warning("wechat: refused body: %s", type(exc).__name__)
            raise HTTPException(status_code=400, detail="bad xml") from None
        # Plain mode signs no body: a (timestamp, nonce) reused with another body is refused, even for a
        # message we would then ignore. The inbox records it with the message, in one transaction.
        use = guard.use(timestamp, nonce, body) if crypto is None else None
        with_message = stored is not None and inbound is not None
        if (
            use is not None
            and not with_message
            and not await asyncio.get_running_loop().run_in_executor(checks, guard.record, use)
        ):
            logger.warning("wechat: nonce replayed with another body")
            raise HTTPException(status_code=403, detail="replayed request")
        reply = partial(answer, message=message, nonce=nonce, timestamp=timestamp, arrived=arrived, use=use)
        if stored is not None:
            return await stored.answer(inbound, reply, Response(content=NO_REPLY, media_type="text/plain"))
        return await deadline.answer_first_delivery(
            inbound, arrived, reply, Response(content=NO_REPLY, media_type="text/plain")
        )

    # A plain starlette route, not FastAPI's: FastAPI's per-request parameter and dependency machinery was
    # about a tenth of an acknowledgement's CPU, for three query parameters.
    router.add_route("/wechat", receive, methods=["POST"], include_in_schema=False)

    async def answer(
        inbound: Inbound, message: Any, nonce: str, timestamp: str, arrived: float, use: NonceUse | None
    ) -> Response:
        if inbound.kind is InboundKind.image:
            image = await photo_bytes(inbound, settings.upload_max_bytes, media_api)
            inbound = dataclasses.replace(inbound, image=image)
        choice = OutboxChoice(passive_split(inbound))
        if stored is not None:
            out = await stored.replies(inbound, choice, arrived, use)
        else:
            out = await deadline.replies(inbound, choice, arrived)
        if out is None:
            return Response(content=NO_REPLY, media_type="text/plain")
        text, _queued = passive_split(inbound)(out)
        if not text:
            return Response(content=NO_REPLY, media_type="text/plain")
        xml = TextReply(content=text, message=message).render()
        if crypto is not None:
            xml = crypto.encrypt_message(xml, nonce, timestamp)
        return Response(content=xml, media_type="application/xml")

    return router

"""The WeCom callback at /wecom: URL verification and decryption with wechatpy.enterprise, messages and
template-card button presses turned into Inbound, a passive (encrypted) reply, the rest via the outbox.
With the inbox on, the message is stored and a processor runs the turn (bot.webhook.inbox_wait)."""

from __future__ import annotations

import dataclasses
import logging
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.enterprise import parse_message
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import TextReply

from backend.texts import catalogue, lang_of, t
from bot.inbox import inbox_replies
from bot.messages import Inbound, InboundKind, OutboundKind
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
    split_passive,
)
from bot.webhook.replay import ReplayGuard
from bot.wechat.media import photo_bytes
from bot.wechat.parse import to_inbound
from bot.wechat.xmlsafe import BadXML, safe_fields
from bot.wecom.send import make_wecom_client

if TYPE_CHECKING:
    from backend.settings import Settings

logger = logging.getLogger(__name__)

CHANNEL = "wecom"
# The catalogue text a pressed card button is replaced with when the turn said nothing of it (see card_label).
PRESSED_KEY = "card.pressed"


def update_button_xml(fields: dict[str, str], label: str) -> str:
    """The passive reply to a template_card_event that relabels the pressed button (and disables it)."""
    return (
        "<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{frm}]]></FromUserName>"
        "<CreateTime>{ts}</CreateTime><MsgType><![CDATA[update_button]]></MsgType>"
        "<Button><ReplaceName><![CDATA[{label}]]></ReplaceName></Button></xml>"
    ).format(to=fields.get("FromUserName", ""), frm=fields.get("ToUserName", ""), ts=int(time.time()), label=label)


def wecom_router(
    *,
    settings: Settings,
    chatbot: Chat,
    session_factory: sessionmaker[Session],
    reply_budget: float = REPLY_BUDGET_SECONDS,
    ack_deadline: float = ACK_DEADLINE_SECONDS,
) -> APIRouter:
    """The /wecom routes for the configured corp and agent."""
    router = APIRouter(tags=["wecom"])
    media_api = make_wecom_client(settings)  # media/get when a photo's PicUrl cannot be fetched
    crypto = WeChatCrypto(settings.wecom_token.get_secret_value(), settings.wecom_aes_key, settings.wecom_corp_id)
    max_bytes = settings.request_max_bytes
    agent_id = str(settings.wecom_agent_id)
    # WeCom signs the encrypted body with the timestamp and nonce, so a fresh timestamp is all a replay
    # window needs here (a replay of the very same request is a duplicate delivery).
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

    def check_fresh(timestamp: str, nonce: str) -> None:
        if not guard.fresh(timestamp, nonce):
            logger.warning("wecom: stale timestamp or bad nonce")
            raise HTTPException(status_code=403, detail="stale request")

    @router.get("/wecom", include_in_schema=False)
    def verify_url(msg_signature: str, timestamp: str, nonce: str, echostr: str) -> Response:
        """WeCom's URL check: decrypt echostr and send the plain text back."""
        check_fresh(timestamp, nonce)
        try:
            echo = crypto.check_signature(msg_signature, timestamp, nonce, echostr)
        except (InvalidSignatureException, InvalidCorpIdException):
            raise HTTPException(status_code=403, detail="invalid signature") from None
        except Exception:  # a corrupt echostr: undecryptable, bad padding
            raise HTTPException(status_code=400, detail="bad echostr") from None
        return Response(content=echo, media_type="text/plain")

    @router.post("/wecom", include_in_schema=False)
    async def receive(request: Request, msg_signature: str, timestamp: str, nonce: str) -> Response:
        """One message or event from a staff member."""
        arrived = time.monotonic()
        check_fresh(timestamp, nonce)
        body = await read_body(request, max_bytes)
        try:
            outer = safe_fields(body)
            if "Encrypt" not in outer:
                raise BadXML("no Encrypt field")
            plain = crypto.decrypt_message(outer, msg_signature, timestamp, nonce)
            fields = safe_fields(plain)
            if fields.get("AgentID", agent_id) != agent_id:
                raise BadXML("a message for another application")
            message = parse_message(plain)
            inbound = to_inbound(message, fields, channel=CHANNEL)
        except (InvalidSignatureException, InvalidCorpIdException):
            logger.warning("wecom: bad signature or corp id")
            raise HTTPException(status_code=403, detail="invalid signature") from None
        except Exception as exc:  # malformed XML, undecryptable or corrupt payloads
            logger.warning("wecom: refused body: %s", type(exc).__name__)
            raise HTTPException(status_code=400, detail="bad xml") from None
        reply = partial(answer, message=message, fields=fields, nonce=nonce, timestamp=timestamp, arrived=arrived)
        if stored is not None:
            return await stored.answer(inbound, reply, Response(content="", media_type="text/plain"))
        return await deadline.answer_first_delivery(
            inbound, arrived, reply, Response(content="", media_type="text/plain")
        )

    async def answer(
        inbound: Inbound, message: Any, fields: dict[str, str], nonce: str, timestamp: str, arrived: float
    ) -> Response:
        if inbound.kind is InboundKind.image:
            image = await photo_bytes(inbound, settings.upload_max_bytes, media_api)
            inbound = dataclasses.replace(inbound, image=image)
        choice = OutboxChoice(passive_split(inbound))
        if stored is not None:
            out = await stored.replies(inbound, choice, arrived)
        else:
            out = await deadline.replies(inbound, choice, arrived)
        if out is None:
            return Response(content="", media_type="text/plain")
        if inbound.card_press:
            # The button says what really happened (done, refused with the reason, waiting for a reply).
            label = next((m.text for m in out if m.kind is OutboundKind.card_label), "")
            if not label and PRESSED_KEY in catalogue():
                label = t(PRESSED_KEY, lang_of(inbound.language))
            if not label:
                return Response(content="", media_type="text/plain")
            return _encrypted(crypto, update_button_xml(fields, label), nonce, timestamp)
        text, _queued = split_passive(out, keep_button_text=False)
        if not text:
            return Response(content="", media_type="text/plain")
        return _encrypted(crypto, TextReply(content=text, message=message).render(), nonce, timestamp)

    return router


def _encrypted(crypto: Any, xml: str, nonce: str, timestamp: str) -> Response:
    return Response(content=crypto.encrypt_message(xml, nonce, timestamp), media_type="application/xml")

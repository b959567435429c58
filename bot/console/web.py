"""/simulator: a small web chat page against the chatbot (channel "console"), for trying the loop locally."""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from bot.chatbot import Chatbot
from bot.console.inbox import CHANNEL, bind_console_staff, take_pending
from bot.messages import Inbound, InboundKind, Outbound

logger = logging.getLogger(__name__)

router = APIRouter(tags=["simulator"])
PAGE = Path(__file__).with_name("simulator.html")
MAX_PHOTO_B64 = 8 * 1024 * 1024


class SimulatorMessage(BaseModel):
    """One message typed, tapped or uploaded in the simulator page."""

    user: str = Field("demo", min_length=1, max_length=40, pattern=r"^[\w\-]+$")
    staff: str | None = Field(None, max_length=64, pattern=r"^[\w\-]+$")
    kind: InboundKind = InboundKind.text
    text: str = Field("", max_length=4000)
    data: str = Field("", max_length=200)
    lon: float | None = None
    lat: float | None = None
    label: str = Field("", max_length=200)
    photo_base64: str = Field("", max_length=MAX_PHOTO_B64)
    language: str = Field("zh", max_length=8)


def _chatbot(request: Request) -> Chatbot:
    state = request.app.state
    settings = state.runtime.settings
    if settings.env == "production":
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    chatbot = getattr(state, "chatbot", None)
    if chatbot is None:
        chatbot = state.chatbot = Chatbot(state.runtime, state.session_factory)
    return chatbot


def _user_id(chatbot: Chatbot, user: str, staff: str | None) -> str:
    if staff:
        return bind_console_staff(chatbot.backend.session_factory, staff)
    return f"resident-{user}"


def _json(messages: list[Outbound]) -> list[dict[str, Any]]:
    return [asdict(m) for m in messages]


@router.get("/simulator", response_class=HTMLResponse, include_in_schema=False)
def simulator_page(request: Request) -> HTMLResponse:
    """The chat page (development and test only)."""
    _chatbot(request)
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))


@router.post("/simulator/api/send")
def simulator_send(msg: SimulatorMessage, request: Request) -> dict[str, Any]:
    """Deliver one message as the chosen resident or staff member; the replies and pending notifications."""
    chatbot = _chatbot(request)
    try:
        image = base64.b64decode(msg.photo_base64, validate=True) if msg.photo_base64 else None
    except (binascii.Error, ValueError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "photo_base64 is not base64") from exc
    user_id = _user_id(chatbot, msg.user, msg.staff)
    inbound = Inbound(
        CHANNEL,
        user_id,
        msg.kind,
        text=msg.text,
        data=msg.data,
        lon=msg.lon,
        lat=msg.lat,
        label=msg.label,
        image=image,
        language=msg.language,
    )
    replies = chatbot.handle(inbound)
    pending = take_pending(chatbot.backend.session_factory, user_id)
    return {"user_id": user_id, "replies": _json(replies), "notifications": _json(pending)}


@router.get("/simulator/api/inbox")
def simulator_inbox(
    request: Request,
    user: Annotated[str, Query(min_length=1, max_length=40, pattern=r"^[\w\-]+$")] = "demo",
    staff: Annotated[str | None, Query(max_length=64, pattern=r"^[\w\-]+$")] = None,
) -> dict[str, Any]:
    """Pending notifications for a simulator user (the page polls this)."""
    chatbot = _chatbot(request)
    user_id = _user_id(chatbot, user, staff)
    return {"user_id": user_id, "notifications": _json(take_pending(chatbot.backend.session_factory, user_id))}

"""A photo's bytes for a WeChat or WeCom image message: its PicUrl, else the media by MediaId (临时素材).

PicUrl is a link WeChat hands out with the message; it may be expired, unreachable or not http at all.
The MediaId always names the picture on the platform, so `media/get` through the API fetches it then.
Either failing leaves the message without bytes, and the dialogue keeps the report and says so.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import requests
from wechatpy.exceptions import WeChatClientException

from bot.messages import Inbound

logger = logging.getLogger(__name__)

IMAGE_FETCH_TIMEOUT = 1.5
MEDIA_FETCH_TIMEOUT = 2.0


class MediaApi(Protocol):
    """What we use of a wechatpy client (Official Account or WeCom): `client.media.download(media_id)`."""

    @property
    def media(self) -> Any: ...


async def fetch_image(url: str, max_bytes: int) -> bytes | None:
    """Download a photo WeChat links to (PicUrl), or None if it is slow, missing, too large or no URL."""
    try:
        urlsplit(url).port  # noqa: B018  (raises ValueError for a port out of range)
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        logger.warning("wechat: photo URL refused")
        return None
    try:
        async with httpx.AsyncClient(timeout=IMAGE_FETCH_TIMEOUT) as client, client.stream("GET", url) as resp:
            if resp.status_code != 200:
                return None
            data = bytearray()
            async for chunk in resp.aiter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    return None
            return bytes(data)
    except httpx.HTTPError as exc:
        logger.warning("wechat: photo download failed: %s", type(exc).__name__)
        return None


def _download(api: MediaApi, media_id: str, max_bytes: int) -> bytes | None:
    response = api.media.download(media_id)  # JSON errors raise; a picture comes back as the response
    if not isinstance(response, requests.Response) or response.status_code != 200:
        return None
    if response.headers.get("Content-Type", "").startswith(("application/json", "text/")):
        return None
    data = response.content
    return data if 0 < len(data) <= max_bytes else None


async def fetch_media(api: MediaApi, media_id: str, max_bytes: int) -> bytes | None:
    """The picture a MediaId names, through the platform API; None if the platform will not give it."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(_download, api, media_id, max_bytes), MEDIA_FETCH_TIMEOUT)
    except (TimeoutError, WeChatClientException, requests.RequestException) as exc:
        logger.warning("wechat: media/get failed: %s", type(exc).__name__)
        return None


async def photo_bytes(inbound: Inbound, max_bytes: int, api: MediaApi | None) -> bytes | None:
    """An image message's bytes: from PicUrl when that works, else by MediaId."""
    data = None
    if inbound.label.startswith(("http://", "https://")):
        data = await fetch_image(inbound.label, max_bytes)
    if data is None and inbound.image_ref and api is not None:
        data = await fetch_media(api, inbound.image_ref, max_bytes)
    return data

"""Outbox senders for the Official Account: customer-service messages inside WeChat's 48-hour window,
template messages outside it, and wechatpy/requests errors mapped to our channel errors."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.client import WeChatClient
from wechatpy.exceptions import APILimitedException, WeChatClientException

from backend.db.models import ChannelIdentity, Notification
from backend.db.types import utcnow
from backend.workers.channels import (
    WECHAT_SERVICE_WINDOW,
    BlockedError,
    PermanentChannelError,
    TransientChannelError,
    WindowClosedError,
)
from bot.adapters import WECHAT_TEMPLATE_CHANNEL, notification_messages
from bot.messages import Outbound

if TYPE_CHECKING:
    from backend.settings import Settings

logger = logging.getLogger(__name__)

# WeChat error codes, from the platform's global return-code table.
_WINDOW_CLOSED = {45015, 45047}  # no user interaction in 48 h / too many messages since it
_BLOCKED = {43004, 43019, 40003, 43101}  # unsubscribed, blacklisted, bad openid, refused subscription messages
_TOKEN = {40001, 40014, 42001}  # still bad after wechatpy's own refresh-and-retry
_BUSY = {-1, 45009, 45011}  # system busy, daily quota, frequency limit
MAX_MENU_ITEMS = 10


class ApiBaseWeChatClient(WeChatClient):  # type: ignore[misc]
    """WeChatClient that fetches its token from API_BASE_URL too (1.8.18 hard-codes api.weixin.qq.com)."""

    def __init__(
        self, appid: str, secret: str, *, api_base: str, timeout: float = 10.0, access_token: str | None = None
    ) -> None:
        super().__init__(appid, secret, access_token=access_token, timeout=timeout)
        self.API_BASE_URL = api_base

    def fetch_access_token(self) -> Any:
        """Fetch a token from <api_base>token."""
        return self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


def make_wechat_client(settings: Settings) -> ApiBaseWeChatClient:
    """The Official Account API client for the configured app and API base."""
    return ApiBaseWeChatClient(
        settings.wechat_app_id, settings.wechat_app_secret.get_secret_value(), api_base=settings.wechat_api_base
    )


@contextmanager
def wechat_errors(what: str) -> Iterator[None]:
    """Translate wechatpy and requests exceptions into ChannelErrors (for WeChat and WeCom alike)."""
    try:
        yield
    except APILimitedException as exc:
        raise TransientChannelError(f"{what}: rate limited ({exc.errcode})", retry_after=60.0) from exc
    except WeChatClientException as exc:
        raise classify_wechat_error(what, exc) from exc
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise TransientChannelError(f"{what}: {type(exc).__name__}") from exc
    except requests.RequestException as exc:
        raise PermanentChannelError(f"{what}: {type(exc).__name__}") from exc


def classify_wechat_error(what: str, exc: WeChatClientException) -> Exception:
    """The channel error for one WeChat API error."""
    code = exc.errcode
    if code is None:  # an HTTP-level failure
        status = getattr(exc.response, "status_code", None)
        if status is None or status >= 500 or status == 429:
            return TransientChannelError(f"{what}: HTTP {status}")
        return PermanentChannelError(f"{what}: HTTP {status}")
    code = int(code)
    if code in _WINDOW_CLOSED:
        return WindowClosedError(f"{what}: {code} {exc.errmsg}")
    if code in _BLOCKED:
        return BlockedError(f"{what}: {code} {exc.errmsg}")
    if code in _BUSY:
        return TransientChannelError(f"{what}: {code} {exc.errmsg}", retry_after=5.0 if code == -1 else 60.0)
    if code in _TOKEN:
        return TransientChannelError(f"{what}: access token refused ({code})")
    return PermanentChannelError(f"{what}: {code} {exc.errmsg}")


def menu(message: Outbound) -> dict[str, Any]:
    """A customer-service menu (msgmenu): a tap comes back as a text message carrying its id."""
    items = [{"id": b.data, "content": b.label} for b in message.buttons[:MAX_MENU_ITEMS]]
    head = "\n".join(part for part in (message.title, message.text) if part)
    return {"head_content": head, "list": items, "tail_content": ""}


def plain(message: Outbound) -> str:
    """A message as plain text."""
    return "\n".join(part for part in (message.title, message.text, message.image_url) if part)


class WeChatSender:
    """Customer-service messages (text, msgmenu for buttons), refused outside the 48-hour window."""

    # The outbox worker reads this to refuse rows for silent users before calling send().
    service_window = WECHAT_SERVICE_WINDOW

    def __init__(
        self,
        client: WeChatClient,
        *,
        session_factory: sessionmaker[Session] | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.client = client
        self.session_factory = session_factory
        self.now = now

    def window_open(self, openid: str) -> bool:
        """Whether the user wrote within 48 h (True when no database was given: WeChat will tell us)."""
        if self.session_factory is None:
            return True
        with self.session_factory() as session:
            last = session.scalar(
                select(ChannelIdentity.last_inbound_at).where(
                    ChannelIdentity.channel == "wechat", ChannelIdentity.external_id == openid
                )
            )
        return last is not None and self.now() - last < WECHAT_SERVICE_WINDOW

    def close(self) -> None:
        """Close the HTTP session."""
        self.client._http.close()

    def send(self, notification: Notification) -> None:
        """Send every message of a notification as customer-service messages."""
        openid = notification.external_id
        if not self.window_open(openid):
            raise WindowClosedError("wechat: the user has not written within 48 hours")
        for message in notification_messages(notification):
            with wechat_errors("wechat custom send"):
                if message.buttons:
                    self.client.message.send_msg_menu(openid, menu(message))
                elif plain(message):
                    self.client.message.send_text(openid, plain(message))


class WeChatTemplateSender:
    """Template messages: the fallback that may reach a user outside the 48-hour window."""

    def __init__(self, client: WeChatClient, *, template_id: str, url: str | None = None) -> None:
        self.client = client
        self.template_id = template_id
        self.url = url

    def close(self) -> None:
        """Close the HTTP session."""
        self.client._http.close()

    def send(self, notification: Notification) -> None:
        """Send one template message summarising the notification."""
        if not self.template_id:
            raise PermanentChannelError("wechat template: no template id configured")
        payload = notification.payload or {}
        text = "\n".join(plain(m) for m in notification_messages(notification) if plain(m))
        data = {
            "first": {"value": text[:200]},
            "keyword1": {"value": str(payload.get("number") or "")},
            "keyword2": {"value": str(payload.get("status") or notification.kind)},
            "remark": {"value": ""},
        }
        with wechat_errors("wechat template send"):
            self.client.message.send_template(notification.external_id, self.template_id, data, url=self.url)


def template_fallback(
    session: Session, notification: Notification, error: PermanentChannelError
) -> Notification | None:
    """A WeChat template message for a notification another channel refused for good; None if unreachable."""
    if notification.channel == WECHAT_TEMPLATE_CHANNEL:
        return None
    openid: str | None = notification.external_id if notification.channel == "wechat" else None
    if openid is None and notification.person_id is not None:
        openid = session.scalar(
            select(ChannelIdentity.external_id).where(
                ChannelIdentity.person_id == notification.person_id, ChannelIdentity.channel == "wechat"
            )
        )
    if openid is None:
        return None
    logger.info("notification %s: %s; falling back to a template message", notification.id, type(error).__name__)
    return Notification(
        key=f"{notification.key[:190]}:tpl",
        ticket_id=notification.ticket_id,
        person_id=notification.person_id,
        channel=WECHAT_TEMPLATE_CHANNEL,
        external_id=openid,
        kind=notification.kind,
        payload=dict(notification.payload or {}),
    )

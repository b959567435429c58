"""Outbox senders for the Official Account: customer-service messages inside WeChat's 48-hour window,
template messages outside it (bot/wechat/template.py), and wechatpy/requests errors mapped to our channel errors."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests
from wechatpy.client import WeChatClient
from wechatpy.exceptions import APILimitedException, WeChatClientException

from backend.ports import SystemClock
from backend.workers.channels import (
    BlockedError,
    Delivery,
    PermanentChannelError,
    TransientChannelError,
    WindowClosedError,
)
from bot.messages import Outbound
from bot.outbound import delivery_messages

if TYPE_CHECKING:
    from backend.settings import Settings

logger = logging.getLogger(__name__)

# WeChat error codes, from the platform's global return-code table.
_WINDOW_CLOSED = {45015, 45047}  # no user interaction in 48 h / too many messages since it
_BLOCKED = {43004, 43019, 40003, 43101}  # unsubscribed, blacklisted, bad openid, refused subscription messages
_TOKEN = {40001, 40014, 42001}  # still bad after wechatpy's own refresh-and-retry
_BUSY = {-1, 45009, 45011}  # system busy, daily quota, frequency limit
MAX_MENU_ITEMS = 10
# WeChat lets an Official Account send customer-service messages only this long after the user's last message.
WECHAT_SERVICE_WINDOW = timedelta(hours=48)


def require_open_window(delivery: Delivery, now: datetime) -> None:
    """Raise WindowClosedError unless the recipient wrote to us within WeChat's 48-hour service window."""
    last = delivery.last_inbound_at
    if last is None or now - last >= WECHAT_SERVICE_WINDOW:
        raise WindowClosedError("wechat: the user has not written within 48 hours")


class ApiBaseWeChatClient(WeChatClient):  # type: ignore[misc]
    """WeChatClient that fetches its token from API_BASE_URL too (1.8.18 hard-codes api.weixin.qq.com)."""

    def __init__(
        self, appid: str, secret: str, *, api_base: str, timeout: float = 10.0, access_token: str | None = None
    ) -> None:
        super().__init__(appid, secret, access_token=access_token, timeout=timeout)
        self.API_BASE_URL = api_base
        keep_connections(self._http)

    def fetch_access_token(self) -> Any:
        """Fetch a token from <api_base>token."""
        return self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


# The outbox's send threads share one client: as many kept-alive connections as there are threads (requests
# keeps 10 and, with more threads, opens and discards one per message beyond them).
POOL_CONNECTIONS = 32


def keep_connections(http: requests.Session) -> None:
    """Let a wechatpy client's session keep up to POOL_CONNECTIONS connections per host."""
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=POOL_CONNECTIONS)
    http.mount("http://", adapter)
    http.mount("https://", adapter)


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

    def __init__(self, client: WeChatClient, *, now: Callable[[], datetime] | None = None) -> None:
        self.client = client
        self.now = now or SystemClock().now

    def close(self) -> None:
        """Close the HTTP session."""
        self.client._http.close()

    def send(self, delivery: Delivery) -> None:
        """Send every message of a delivery as customer-service messages."""
        require_open_window(delivery, self.now())
        openid = delivery.recipient
        for message in delivery_messages(delivery):
            with wechat_errors("wechat custom send"):
                if message.buttons:
                    self.client.message.send_msg_menu(openid, menu(message))
                elif plain(message):
                    self.client.message.send_text(openid, plain(message))

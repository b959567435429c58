"""Replay windows on the signed webhooks: stale timestamps and reused nonces are refused, retries are not."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.channels are parameters here)

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import ConversationState, InboundMessage, InboxMessage, WebhookNonce
from bot.webhook.replay import ReplayGuard
from tests.fakes.channels import (  # noqa: F401  (fixtures)
    WECOM_TOKEN,
    chat_runtime,
    client,
    telegram_api,
    wechat,
    wechat_api,
    wecom,
)
from tests.fakes.wechat import WeChatPlatform, aes_encrypt, message_xml, sha1_sign

WINDOW = 300


def text_xml(openid: str, text: str, msg_id: int) -> str:
    return message_xml("text", {"Content": text, "MsgId": msg_id}, from_user=openid)


def plain_params(token: str, ts: int, nonce: str) -> dict[str, str]:
    return {"signature": sha1_sign(token, str(ts), nonce), "timestamp": str(ts), "nonce": nonce, "openid": "o"}


def turns_of(session_factory: sessionmaker[Session], openid: str) -> int:
    with session_factory() as session:
        return (
            session.scalar(
                select(func.count()).select_from(ConversationState).where(ConversationState.external_id == openid)
            )
            or 0
        )


@pytest.mark.parametrize("skew", [-(WINDOW + 5), WINDOW + 5])
def test_a_correctly_signed_wechat_request_outside_the_window_is_refused(
    client: TestClient, wechat: WeChatPlatform, session_factory: sessionmaker[Session], skew: int
) -> None:
    params = plain_params(wechat.token, int(time.time()) + skew, "84213")
    body = text_xml("oSTALE", "路灯坏了", 9001).encode()
    assert client.post("/wechat", params=params, content=body).status_code == 403
    assert client.get("/wechat", params={**params, "echostr": "e"}).status_code == 403
    assert turns_of(session_factory, "oSTALE") == 0
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(WebhookNonce)) == 0


def test_a_request_inside_the_window_passes(client: TestClient, wechat: WeChatPlatform) -> None:
    params = plain_params(wechat.token, int(time.time()) - (WINDOW - 30), "51234")
    assert client.get("/wechat", params={**params, "echostr": "ok"}).text == "ok"


def test_a_captured_plain_signature_cannot_carry_another_body(
    client: TestClient, wechat: WeChatPlatform, session_factory: sessionmaker[Session]
) -> None:
    params = plain_params(wechat.token, int(time.time()), "77001")
    first = client.post("/wechat", params=params, content=text_xml("oREAL", "楼道灯坏了", 9101).encode())
    assert first.status_code == 200
    forged = client.post("/wechat", params=params, content=text_xml("oFORGED", "假的反映", 9102).encode())
    assert forged.status_code == 403
    assert turns_of(session_factory, "oREAL") == 1
    assert turns_of(session_factory, "oFORGED") == 0


@pytest.fixture
def inbox_mode() -> str:
    """Read by chat_runtime: the webhooks store messages in the durable inbox."""
    return "inbox"


def test_with_the_inbox_the_nonce_is_recorded_with_the_message_and_a_replay_stores_nothing(
    inbox_mode: str, client: TestClient, wechat: WeChatPlatform, session_factory: sessionmaker[Session]
) -> None:
    params = plain_params(wechat.token, int(time.time()), "77002")
    body = text_xml("oREAL", "楼道灯坏了", 9111).encode()
    assert client.post("/wechat", params=params, content=body).status_code == 200
    assert (
        client.post("/wechat", params=params, content=body).status_code == 200
    )  # the platform retrying: the same body passes, and stores nothing new
    forged = client.post("/wechat", params=params, content=text_xml("oFORGED", "假的反映", 9112).encode())
    assert forged.status_code == 403
    with session_factory() as session:
        assert session.scalars(select(InboxMessage.sender)).all() == ["oREAL"]
        assert session.scalar(select(func.count()).select_from(WebhookNonce)) == 1


def test_the_platform_retrying_the_same_request_is_a_duplicate_not_a_replay(
    client: TestClient, wechat: WeChatPlatform, session_factory: sessionmaker[Session]
) -> None:
    signed = wechat.sign(text_xml("oRETRY", "小区门口垃圾没人清", 9201))
    assert client.post("/wechat", params=signed.params, content=signed.body).status_code == 200
    again = client.post("/wechat", params=signed.params, content=signed.body)
    assert again.status_code == 200
    assert again.text == "success"  # acknowledged without a second turn
    with session_factory() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(InboundMessage)
                .where(InboundMessage.channel == "wechat", InboundMessage.message_key == "9201")
            )
            == 1
        )


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_stale_wecom_callback_is_refused(
    client: TestClient, wecom: WeChatPlatform, method: str, session_factory: sessionmaker[Session]
) -> None:
    ts, nonce = str(int(time.time()) - WINDOW - 60), "99120"
    if method == "GET":
        enc = aes_encrypt("echo", wecom.app_id, wecom.aes_key)
        params = {
            "msg_signature": sha1_sign(WECOM_TOKEN, ts, nonce, enc),
            "timestamp": ts,
            "nonce": nonce,
            "echostr": enc,
        }
        assert client.get("/wecom", params=params).status_code == 403
        return
    enc = aes_encrypt(text_xml("gw_001", "我的任务", 9301), wecom.app_id, wecom.aes_key)
    body = f"<xml><ToUserName><![CDATA[{wecom.app_id}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>"
    params = {"msg_signature": sha1_sign(WECOM_TOKEN, ts, nonce, enc), "timestamp": ts, "nonce": nonce}
    assert client.post("/wecom", params=params, content=body.encode()).status_code == 403
    assert turns_of(session_factory, "gw_001") == 0


@pytest.mark.parametrize(
    ("timestamp", "nonce", "fresh"),
    [
        ("1000000", "1", True),
        ("1000300", "1", True),
        ("999700", "1", True),
        ("1000301", "1", False),
        ("999699", "1", False),
        ("-1000000", "1", False),
        ("1e6", "1", False),
        ("１０００００0", "1", False),
        ("", "1", False),
        ("1000000", "", False),
        ("1000000", "n" * 65, False),
        ("1000000", "n" * 64, True),
    ],
)
def test_freshness_edges(session_factory: sessionmaker[Session], timestamp: str, nonce: str, fresh: bool) -> None:
    guard = ReplayGuard(session_factory, "wechat", window_seconds=WINDOW, wall_clock=lambda: 1_000_000.0)
    assert guard.fresh(timestamp, nonce) is fresh


def test_first_use_tells_a_retry_from_a_replay(session_factory: sessionmaker[Session]) -> None:
    guard = ReplayGuard(session_factory, "wechat", window_seconds=WINDOW, wall_clock=lambda: 1_000_000.0)
    assert guard.record(guard.use("1000000", "42", b"<xml>a</xml>"))
    assert guard.record(guard.use("1000000", "42", b"<xml>a</xml>"))
    assert not guard.record(guard.use("1000000", "42", b"<xml>b</xml>"))
    assert guard.record(guard.use("1000001", "42", b"<xml>b</xml>"))
    other = ReplayGuard(session_factory, "wecom", window_seconds=WINDOW, wall_clock=lambda: 1_000_000.0)
    assert other.record(other.use("1000000", "42", b"<xml>b</xml>"))

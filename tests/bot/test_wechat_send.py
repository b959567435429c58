"""The Official Account senders against the fake WeChat API: the 48-hour window, template fallback through
the real outbox worker, and WeChat's error codes mapped to our channel errors."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.channels are parameters here)

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import ChannelIdentity, Notification, NotificationAttempt
from backend.db.types import utcnow
from backend.services.people import resident_for
from backend.settings import Settings
from backend.workers.channels import (
    BlockedError,
    Delivery,
    PermanentChannelError,
    TransientChannelError,
    WindowClosedError,
)
from backend.workers.outbox import delivery_of, drain_once
from bot.adapters import build_fallback, build_senders, close_senders
from bot.wechat.send import WeChatSender, make_wechat_client
from bot.wechat.template import WECHAT_TEMPLATE_CHANNEL, WeChatTemplateSender, template_fallback
from tests.fakes.channels import channel_settings, telegram_api, wechat_api  # noqa: F401  (fixtures)
from tests.fakes.server import Answer
from tests.fakes.telegram import FakeTelegramAPI
from tests.fakes.wechat import FakeWeChatAPI, errcode

OPENID = "oRESIDENT_send_1"


@pytest.fixture
def wx_settings(settings: Settings, wechat_api: FakeWeChatAPI, telegram_api: FakeTelegramAPI) -> Settings:
    return channel_settings(settings, wechat_api, telegram_api)


@pytest.fixture
def sender(wx_settings: Settings) -> Iterator[WeChatSender]:
    """A customer-service sender."""
    s = WeChatSender(make_wechat_client(wx_settings))
    yield s
    s.close()


@pytest.fixture
def resident_seen(session_factory: sessionmaker[Session]) -> Iterator[callable]:  # type: ignore[valid-type]
    """Make the resident's last message `hours` old."""

    def seen(hours: float) -> int:
        with session_factory() as session:
            person = resident_for(session, channel="wechat", external_id=OPENID)
            ident = session.scalar(select(ChannelIdentity).where(ChannelIdentity.external_id == OPENID))
            assert ident is not None
            ident.last_inbound_at = utcnow() - timedelta(hours=hours)
            session.commit()
            return person.id

    yield seen


def delivery(hours_since_last_message: float | None = 1.0) -> Delivery:
    """The outbox delivery of `notification`, to a resident who last wrote that long ago (None: never)."""
    last = None if hours_since_last_message is None else utcnow() - timedelta(hours=hours_since_last_message)
    return delivery_of(notification(None), last_inbound_at=last)


def notification(person_id: int | None, key: str = "t1:e1:accepted", kind: str = "accepted") -> Notification:
    return Notification(
        key=key,
        person_id=person_id,
        channel="wechat",
        external_id=OPENID,
        kind=kind,
        payload={
            "number": "GB20261123-0001",
            "status": "accepted",
            "category": "garbage_piling",
            "text": "垃圾没人清运",
            "lang": "zh",
        },
    )


def test_inside_the_window_a_customer_service_message_is_sent(sender: WeChatSender, wechat_api: FakeWeChatAPI) -> None:
    sender.send(delivery(hours_since_last_message=2))
    sent = wechat_api.sent("message/custom/send")
    assert len(sent) == 1
    assert sent[0]["touser"] == OPENID and sent[0]["msgtype"] == "text"
    assert "GB20261123-0001" in sent[0]["text"]["content"]


@pytest.mark.parametrize("hours", [49, None])
def test_outside_the_window_nothing_is_sent_and_the_window_is_closed(
    sender: WeChatSender, wechat_api: FakeWeChatAPI, hours: float | None
) -> None:
    with pytest.raises(WindowClosedError):
        sender.send(delivery(hours_since_last_message=hours))
    assert wechat_api.sent("message/custom/send") == []


def test_a_closed_window_falls_back_to_a_template_message_through_the_outbox(
    wx_settings: Settings,
    wechat_api: FakeWeChatAPI,
    resident_seen,  # type: ignore[no-untyped-def]
    session_factory: sessionmaker[Session],
) -> None:
    person_id = resident_seen(72)
    with session_factory() as session:
        session.add(notification(person_id))
        session.commit()
    senders = build_senders(wx_settings.model_copy(update={"telegram_token": SecretStr("")}))
    fallback = build_fallback(wx_settings)
    try:
        first = drain_once(session_factory, senders, worker_id="w1", fallback=fallback)
        second = drain_once(session_factory, senders, worker_id="w1", fallback=fallback)
    finally:
        close_senders(senders)
    assert (first.fallback, second.sent) == (1, 1)
    assert wechat_api.sent("message/custom/send") == []
    templates = wechat_api.sent("message/template/send")
    assert len(templates) == 1
    assert templates[0]["touser"] == OPENID and templates[0]["template_id"] == wx_settings.wechat_template_id
    assert templates[0]["data"]["keyword1"]["value"] == "GB20261123-0001"
    with session_factory() as session:
        rows = {n.channel: n.status for n in session.scalars(select(Notification))}
        outcomes = sorted(a.outcome for a in session.scalars(select(NotificationAttempt)))
    assert rows == {"wechat": "fallback", WECHAT_TEMPLATE_CHANNEL: "sent"}
    assert outcomes == ["fallback", "sent"]


def test_a_telegram_user_who_blocked_the_bot_gets_a_template_if_they_follow_the_account() -> None:
    refused = Delivery(
        notification_id=9,
        channel="telegram",
        recipient="42",
        kind="resolved",
        payload={"number": "GB1"},
        idempotency_key="t9:e1:p1:resolved",
    )
    alt = template_fallback(refused, BlockedError("blocked"), {"wechat": OPENID}.get)
    assert alt is not None
    assert (alt.channel, alt.recipient, alt.idempotency_key) == (
        WECHAT_TEMPLATE_CHANNEL,
        OPENID,
        "t9:e1:p1:resolved:tpl",
    )
    assert alt.kind == "resolved" and alt.payload["number"] == "GB1"
    assert template_fallback(refused, BlockedError("blocked"), {}.get) is None  # no WeChat account: dead-letter


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (errcode(45015, "response out of time limit"), WindowClosedError),
        (errcode(43004, "require subscribe"), BlockedError),
        (errcode(40003, "invalid openid"), BlockedError),
        (errcode(-1, "system error"), TransientChannelError),
        (errcode(45009, "reach max api daily quota limit"), TransientChannelError),
        (errcode(40013, "invalid appid"), PermanentChannelError),
        (Answer.json({"error": "upstream"}, status=502), TransientChannelError),
        (Answer.json({"error": "nope"}, status=404), PermanentChannelError),
    ],
)
def test_wechat_errors_become_channel_errors(
    sender: WeChatSender, wechat_api: FakeWeChatAPI, answer: Answer, error: type[Exception]
) -> None:
    wechat_api.script.push("message/custom/send", answer)
    with pytest.raises(error) as caught:
        sender.send(delivery())
    assert type(caught.value) is error


def test_an_unreachable_api_is_transient(wx_settings: Settings) -> None:
    dead = WeChatSender(
        make_wechat_client(wx_settings.model_copy(update={"wechat_api_base": "http://127.0.0.1:9/cgi-bin/"}))
    )
    with pytest.raises(TransientChannelError):
        dead.send(delivery())
    dead.close()


def test_an_expired_token_is_refreshed_from_the_configured_api_base(
    sender: WeChatSender, wechat_api: FakeWeChatAPI
) -> None:
    wechat_api.script.push("message/custom/send", errcode(42001, "access_token expired"))
    sender.send(delivery())
    tokens = [c.query.get("access_token") for c in wechat_api.calls_to("message/custom/send")]
    assert tokens == ["TOKEN1", "TOKEN2"]
    assert len(wechat_api.calls_to("/cgi-bin/token")) == 2


def test_template_sender_without_a_template_id_is_permanent(wx_settings: Settings) -> None:
    template = WeChatTemplateSender(make_wechat_client(wx_settings), template_id="")
    with pytest.raises(PermanentChannelError):
        template.send(delivery())
    template.close()

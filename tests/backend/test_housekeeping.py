"""Old platform delivery ids are purged; recent ones are kept for dedupe."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from backend.db.models import InboundMessage, WebhookNonce
from backend.services.housekeeping import purge_inbound, purge_nonces


def test_purge_keeps_recent_delivery_ids(session, clock):
    now = clock.now()
    session.add_all(
        [
            InboundMessage(channel="wechat", message_key="old", created_at=now - timedelta(days=8)),
            InboundMessage(channel="wechat", message_key="new", created_at=now - timedelta(hours=1)),
        ]
    )
    session.commit()
    assert purge_inbound(session, now) == 1
    assert list(session.scalars(select(InboundMessage.message_key))) == ["new"]


def test_purge_drops_day_old_webhook_nonces(session, clock):
    now = clock.now()
    session.add_all(
        [
            WebhookNonce(
                channel="wechat", timestamp=1, nonce="old", body_sha256="0" * 64, seen_at=now - timedelta(days=2)
            ),
            WebhookNonce(
                channel="wechat", timestamp=2, nonce="new", body_sha256="0" * 64, seen_at=now - timedelta(minutes=10)
            ),
        ]
    )
    session.commit()
    assert purge_nonces(session, now) == 1
    assert list(session.scalars(select(WebhookNonce.nonce))) == ["new"]

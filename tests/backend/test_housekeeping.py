"""Old platform delivery ids are purged; recent ones are kept for dedupe."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from backend.db.models import InboundMessage
from backend.services.housekeeping import purge_inbound


def test_purge_keeps_recent_delivery_ids(session, clock):
    now = clock.now()
    session.add_all([InboundMessage(channel="wechat", message_key="old", created_at=now - timedelta(days=8)),
                     InboundMessage(channel="wechat", message_key="new", created_at=now - timedelta(hours=1))])
    session.commit()
    assert purge_inbound(session, now) == 1
    assert list(session.scalars(select(InboundMessage.message_key))) == ["new"]

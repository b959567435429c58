"""The outbox worker against the fake Bot API: delivery, leases, the attempt log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Notification, NotificationAttempt
from backend.db.session import transaction
from backend.db.types import utcnow
from backend.domain.notifications import URGENT, NoticeKind
from backend.settings import Settings
from backend.workers.outbox import (
    OutboxConfig,
    OutboxWorker,
    RepeatReport,
    claim,
    drain_once,
    drain_until_idle,
    repeat_report,
)
from backend.workers.ratelimit import RateLimits
from bot.telegram.batch_sender import TelegramBatchSender
from bot.telegram.http_sender import TelegramHttpSender
from tests.workers.conftest import add_notifications
from tests.workers.fake_telegram import FakeTelegram

FAST = OutboxConfig(
    batch_size=20, lease_seconds=5.0, send_threads=4, max_rate_wait=0.5, limits=RateLimits(enabled=False)
)


@pytest.fixture(params=["thread", "batch"])
def sender(request: pytest.FixtureRequest, fake_tg: FakeTelegram) -> Iterator[TelegramHttpSender | TelegramBatchSender]:
    """Both senders: one message per send thread, and the event-loop batch sender."""
    s = (TelegramHttpSender if request.param == "thread" else TelegramBatchSender)(
        fake_tg.base_url, "TEST:TOKEN", timeout=2.0
    )
    yield s
    s.close()


def test_every_queued_notification_is_sent_once_and_logged(
    factory: sessionmaker[Session], fake_tg: FakeTelegram, sender: TelegramHttpSender | TelegramBatchSender
) -> None:
    add_notifications(factory, 75, chats=10)
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w1", config=FAST) as worker:
        total = drain_until_idle(worker)
    texts = sorted(c.params["text"] for c in fake_tg.delivered())
    assert texts == sorted(f"task_reminder n{i}" for i in range(75))
    assert total.sent == 75 and total.claimed == 75
    with factory() as session:
        assert session.scalar(select(func.count()).where(Notification.status == "sent")) == 75
        outcomes = session.execute(
            select(NotificationAttempt.outcome, func.count()).group_by(NotificationAttempt.outcome)
        ).all()
        assert dict(outcomes) == {"sent": 75}
        assert repeat_report(session).possible_repeats == 0


def test_message_goes_to_the_rows_chat_with_the_rendered_text(
    factory: sessionmaker[Session], fake_tg: FakeTelegram, sender: TelegramHttpSender | TelegramBatchSender
) -> None:
    add_notifications(factory, 3, chats=3, prefix="GB-")
    result = drain_once(factory, {"telegram": sender}, worker_id="w1", config=FAST)
    assert (result.claimed, result.sent) == (3, 3)
    got = {(c.params["chat_id"], c.params["text"]) for c in fake_tg.delivered()}
    assert got == {("1000", "task_reminder GB-0"), ("1001", "task_reminder GB-1"), ("1002", "task_reminder GB-2")}


def test_worker_claims_only_channels_it_has_a_sender_for(
    factory: sessionmaker[Session], fake_tg: FakeTelegram, sender: TelegramHttpSender | TelegramBatchSender
) -> None:
    add_notifications(factory, 4, channel="wechat", prefix="wx")
    add_notifications(factory, 2, channel="telegram", prefix="tg")
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w1", config=FAST) as worker:
        drain_until_idle(worker)
    with factory() as session:
        by_channel = dict(
            session.execute(
                select(Notification.channel, Notification.status).group_by(Notification.channel, Notification.status)
            ).all()
        )
    assert by_channel == {"telegram": "sent", "wechat": "pending"}
    assert len(fake_tg.delivered()) == 2


def test_a_claim_takes_a_due_urgent_row_before_routine_rows_due_long_before_it(
    factory: sessionmaker[Session],
) -> None:
    # An alarm retried or put back by a rate limit is due later than the routine rows queued before it.
    ids = add_notifications(factory, 6, chats=1)
    now = utcnow()
    with transaction(factory) as session:
        for minutes_ago, row_id in zip((10, 9, 8, 7, 6), ids[:5], strict=True):
            session.get_one(Notification, row_id).next_attempt_at = now - timedelta(minutes=minutes_ago)
        alarm = session.get_one(Notification, ids[5])
        alarm.kind, alarm.priority, alarm.next_attempt_at = NoticeKind.urgent_alarm, URGENT, now - timedelta(seconds=1)
    with transaction(factory) as session:
        rows = claim(session, worker_id="w", channels=["telegram"], batch_size=3, lease_seconds=10, now=now)
    assert [r.id for r in rows] == [ids[5], ids[0], ids[1]]


def test_live_lease_blocks_a_claim_and_expired_lease_allows_it(factory: sessionmaker[Session]) -> None:
    ids = add_notifications(factory, 2)
    now = utcnow()
    with transaction(factory) as session:
        session.execute(
            update(Notification)
            .where(Notification.id == ids[0])
            .values(lease_owner="ghost", lease_until=now + timedelta(seconds=30), attempts=1)
        )
        session.execute(
            update(Notification)
            .where(Notification.id == ids[1])
            .values(lease_owner="dead-worker", lease_until=now - timedelta(seconds=1), attempts=1)
        )
    with transaction(factory) as session:
        rows = claim(session, worker_id="w2", channels=["telegram"], batch_size=10, lease_seconds=10, now=now)
    assert [(r.id, r.attempts) for r in rows] == [(ids[1], 2)]
    with factory() as session:
        leased = session.get_one(Notification, ids[1])
        assert (leased.lease_owner, leased.lease_until) == ("w2", now + timedelta(seconds=10))
        # The dead worker's claim has no outcome: one possible repeat; the live lease is in flight, not lost.
        assert repeat_report(session, now=now).possible_repeats == 1


def test_rows_not_yet_due_are_not_claimed(factory: sessionmaker[Session]) -> None:
    ids = add_notifications(factory, 2)
    with transaction(factory) as session:
        session.execute(
            update(Notification)
            .where(Notification.id == ids[0])
            .values(next_attempt_at=utcnow() + timedelta(minutes=5))
        )
    with transaction(factory) as session:
        rows = claim(session, worker_id="w", channels=["telegram"], batch_size=10, lease_seconds=10, now=utcnow())
    assert [r.id for r in rows] == [ids[1]]


def test_a_second_sent_outcome_counts_as_a_repeat(factory: sessionmaker[Session]) -> None:
    (nid,) = add_notifications(factory, 1)
    now = utcnow()
    with transaction(factory) as session:
        # Two workers both sent it (the first one's lease ran out while it was still sending).
        session.execute(update(Notification).where(Notification.id == nid).values(attempts=2, status="sent"))
        session.add_all(
            [NotificationAttempt(notification_id=nid, worker=w, outcome="sent", at=now) for w in ("slow", "fast")]
        )
    with factory() as session:
        assert repeat_report(session) == RepeatReport(possible_repeats=1, notifications=1)


def test_config_takes_lease_batch_and_rate_limits_from_settings() -> None:
    settings = Settings(
        worker_lease_seconds=30, worker_batch_size=7, worker_rate_limits={"telegram": {"channel": [1000, 1000]}}
    )
    config = OutboxConfig.from_settings(settings, send_threads=2)
    assert (config.lease_seconds, config.batch_size, config.send_threads) == (30.0, 7, 2)
    assert config.limits == RateLimits.from_config({"telegram": {"channel": [1000, 1000]}})
    assert OutboxConfig.from_settings(Settings(worker_rate_limits_enabled=False)).limits.of("telegram") is None
    with pytest.raises(ValueError, match="lease_seconds"):
        OutboxConfig(lease_seconds=3, max_rate_wait=2)

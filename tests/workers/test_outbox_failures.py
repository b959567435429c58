"""Retries with backoff, retry_after, fallback and the dead-letter list, against the fake Bot API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import ChannelIdentity, Notification, NotificationAttempt, Person
from backend.db.session import transaction
from backend.db.types import utcnow
from backend.domain.notifications import URGENT, NoticeKind
from backend.workers.channels import AddressBook, Delivery, PermanentChannelError
from backend.workers.outbox import OutboxConfig, OutboxWorker, dead_letters, requeue_dead
from backend.workers.ratelimit import RateLimits
from backend.workers.retry import RetryPolicy
from bot.telegram.batch_sender import TelegramBatchSender
from bot.telegram.http_sender import TelegramHttpSender
from bot.wechat.send import require_open_window
from bot.wechat.template import template_fallback as wechat_template_fallback
from tests.workers.conftest import add_notifications
from tests.workers.fake_telegram import Failure, FakeTelegram

POLICY = RetryPolicy(base_seconds=0.2, factor=2.0, cap_seconds=5.0, max_attempts=6)
CONFIG = OutboxConfig(
    batch_size=10, lease_seconds=5.0, send_threads=2, max_rate_wait=0.5, retry=POLICY, limits=RateLimits(enabled=False)
)
CHAT = "1000"  # the chat of add_notifications' first row


@pytest.fixture(params=["thread", "batch"])
def sender(request: pytest.FixtureRequest, fake_tg: FakeTelegram) -> Iterator[TelegramHttpSender | TelegramBatchSender]:
    """Both senders: one message per send thread, and the event-loop batch sender."""
    s = (TelegramHttpSender if request.param == "thread" else TelegramBatchSender)(
        fake_tg.base_url, "TEST:TOKEN", timeout=0.3
    )
    yield s
    s.close()


def drain_until_settled(worker: OutboxWorker, factory: sessionmaker[Session], timeout: float = 15.0) -> None:
    """Keep draining (waiting out backoffs) until no row is pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.drain_once()
        with factory() as session:
            if session.scalar(select(Notification.id).where(Notification.status == "pending")) is None:
                return
        time.sleep(0.02)
    raise AssertionError("notifications still pending")


def attempt_log(factory: sessionmaker[Session]) -> list[tuple[str, str | None]]:
    with factory() as session:
        rows = session.execute(
            select(NotificationAttempt.outcome, NotificationAttempt.error).order_by(NotificationAttempt.id)
        ).all()
    return [(outcome, error) for outcome, error in rows]


def test_flood_control_waits_at_least_retry_after(
    factory: sessionmaker[Session], fake_tg: FakeTelegram, sender: TelegramHttpSender | TelegramBatchSender
) -> None:
    add_notifications(factory, 1)
    fake_tg.script(CHAT, Failure.flood(retry_after=1))
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=CONFIG) as worker:
        drain_until_settled(worker, factory)
    first, second = fake_tg.sent(CHAT)
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0
    assert [o for o, _ in attempt_log(factory)] == ["retry", "sent"]


def test_flood_control_holds_the_chats_other_messages_too(
    factory: sessionmaker[Session], fake_tg: FakeTelegram, sender: TelegramHttpSender | TelegramBatchSender
) -> None:
    add_notifications(factory, 3, chats=1)  # three messages to one chat
    fake_tg.script(CHAT, Failure.flood(retry_after=1))
    one_thread = OutboxConfig(
        batch_size=10,
        lease_seconds=5.0,
        send_threads=1,
        max_rate_wait=0.5,
        retry=POLICY,
        limits=RateLimits(enabled=False),
    )
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=one_thread) as worker:
        drain_until_settled(worker, factory)
    calls = sorted(fake_tg.sent(CHAT), key=lambda c: c.at)
    assert [c.status for c in calls] == [429, 200, 200, 200]
    assert calls[1].at - calls[0].at >= 1.0  # nothing else went to that chat during the flood wait


def test_server_errors_and_timeouts_are_retried_with_growing_backoff(
    factory: sessionmaker[Session], fake_tg: FakeTelegram, sender: TelegramHttpSender | TelegramBatchSender
) -> None:
    add_notifications(factory, 1)
    fake_tg.script(CHAT, Failure.server_error(), Failure.timeout(1.0), Failure.server_error())
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=CONFIG) as worker:
        drain_until_settled(worker, factory)
    calls = sorted(fake_tg.sent(CHAT), key=lambda c: c.at)
    assert [c.status for c in calls] == [500, 504, 500, 200]
    gaps = [b.at - a.at for a, b in zip(calls, calls[1:], strict=False)]
    # Equal jitter: the n-th wait is at least half of base·2^(n-1), so the waits grow: ≥0.1, ≥0.2, ≥0.4 s.
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4
    log = attempt_log(factory)
    assert [o for o, _ in log] == ["retry", "retry", "retry", "sent"]
    assert "500" in (log[0][1] or "") and "timeout" in (log[1][1] or "").lower()
    with factory() as session:
        row = session.scalars(select(Notification)).one()
        assert (row.status, row.attempts, row.last_error) == ("sent", 4, None)


def test_persistent_server_errors_end_in_the_dead_letter_list(
    factory: sessionmaker[Session], fake_tg: FakeTelegram, sender: TelegramHttpSender | TelegramBatchSender
) -> None:
    add_notifications(factory, 2)
    config = OutboxConfig(
        batch_size=10,
        lease_seconds=5.0,
        send_threads=2,
        max_rate_wait=0.5,
        retry=RetryPolicy(base_seconds=0.02, max_attempts=3),
        limits=RateLimits(enabled=False),
    )
    fake_tg.script(CHAT, *[Failure.server_error()] * 5)
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=config) as worker:
        drain_until_settled(worker, factory)
    assert len(fake_tg.sent(CHAT)) == 3
    with factory() as session:
        dead = dead_letters(session, limit=10)
    assert [(d.key, d.attempts) for d in dead] == [("n0", 3)]
    reason = dead[0].reason or ""
    assert "gave up after 3 attempts" in reason and "500" in reason
    assert dead[0].last_attempt_at is not None


def test_blocked_user_without_fallback_is_dead_lettered_at_once_with_the_reason(
    factory: sessionmaker[Session], fake_tg: FakeTelegram, sender: TelegramHttpSender | TelegramBatchSender
) -> None:
    add_notifications(factory, 3)
    fake_tg.script(CHAT, Failure.blocked())
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=CONFIG) as worker:
        drain_until_settled(worker, factory)
    assert len(fake_tg.sent(CHAT)) == 1
    with factory() as session:
        dead = dead_letters(session, limit=10)
        statuses = dict(session.execute(select(Notification.key, Notification.status)).all())
    assert [d.key for d in dead] == ["n0"]
    assert "blocked by the user" in (dead[0].reason or "")
    assert statuses == {"n0": "dead", "n1": "sent", "n2": "sent"}


def template_fallback(delivery: Delivery, error: PermanentChannelError, _address_on: AddressBook) -> Delivery | None:
    """The fallback a deployment configures: the same message as a WeChat template message, if bound."""
    return Delivery(
        notification_id=None,
        channel="wechat_template",
        recipient=f"openid-{delivery.recipient}",
        kind=delivery.kind,
        payload={**delivery.payload, "fallback_from": delivery.channel, "reason": str(error)},
        idempotency_key=f"{delivery.idempotency_key}:template",
    )


def test_blocked_user_gets_the_fallback_template_message_queued(
    factory: sessionmaker[Session], fake_tg: FakeTelegram, sender: TelegramHttpSender | TelegramBatchSender
) -> None:
    add_notifications(factory, 1)
    fake_tg.script(CHAT, Failure.blocked())
    with OutboxWorker(
        factory, {"telegram": sender}, worker_id="w", config=CONFIG, fallback=template_fallback
    ) as worker:
        result = worker.drain_once()
    assert (result.fallback, result.dead) == (1, 0)
    with factory() as session:
        rows = {r.key: r for r in session.scalars(select(Notification))}
        assert rows["n0"].status == "fallback" and "n0:template" in (rows["n0"].last_error or "")
        alt = rows["n0:template"]
        assert (alt.status, alt.channel, alt.external_id) == ("pending", "wechat_template", "openid-1000")
        assert alt.payload["fallback_from"] == "telegram" and "blocked" in alt.payload["reason"]
        assert dead_letters(session, limit=10) == []
    assert [o for o, _ in attempt_log(factory)] == ["fallback"]


def test_an_urgent_alarms_fallback_keeps_its_priority(
    factory: sessionmaker[Session], fake_tg: FakeTelegram, sender: TelegramHttpSender | TelegramBatchSender
) -> None:
    (alarm_id,) = add_notifications(factory, 1)
    with transaction(factory) as session:
        alarm = session.get_one(Notification, alarm_id)
        alarm.kind, alarm.priority = NoticeKind.urgent_alarm.value, URGENT
    fake_tg.script(CHAT, Failure.blocked())
    with OutboxWorker(
        factory, {"telegram": sender}, worker_id="w", config=CONFIG, fallback=template_fallback
    ) as worker:
        assert worker.drain_once().fallback == 1
    with factory() as session:
        alt = session.scalars(select(Notification).where(Notification.key == "n0:template")).one()
    assert alt.priority == URGENT


def test_fallback_hook_declining_sends_the_row_to_dead_letters(
    factory: sessionmaker[Session], fake_tg: FakeTelegram, sender: TelegramHttpSender | TelegramBatchSender
) -> None:
    add_notifications(factory, 1)
    fake_tg.script(CHAT, Failure.blocked())
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=CONFIG, fallback=lambda *_: None) as worker:
        result = worker.drain_once()
    assert (result.fallback, result.dead) == (0, 1)
    with factory() as session:
        (dead,) = dead_letters(session, limit=10)
    assert "no fallback" in (dead.reason or "")


def test_requeued_dead_letter_is_delivered(
    factory: sessionmaker[Session], fake_tg: FakeTelegram, sender: TelegramHttpSender | TelegramBatchSender
) -> None:
    add_notifications(factory, 1)
    fake_tg.script(CHAT, Failure.blocked())
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=CONFIG) as worker:
        worker.drain_once()
        with transaction(factory) as session:
            assert requeue_dead(session, [d.id for d in dead_letters(session, limit=10)]) == 1
        worker.drain_once()
    with factory() as session:
        assert session.scalar(select(Notification.status)) == "sent"
        assert dead_letters(session, limit=10) == []


class RecordingWeChat:
    """A stand-in for the WeChat customer-service sender: keeps WeChat's 48-hour window, remembers the recipients."""

    def __init__(self) -> None:
        self.recipients: list[str] = []

    def send(self, delivery: Delivery) -> None:
        require_open_window(delivery, utcnow())
        self.recipients.append(delivery.recipient)


def test_wechat_window_closed_after_48_hours_takes_the_template_fallback(factory: sessionmaker[Session]) -> None:
    now = utcnow()
    with transaction(factory) as session:
        for openid, silent in (("o-recent", timedelta(hours=47)), ("o-stale", timedelta(hours=49)), ("o-never", None)):
            person = Person(kind="resident", name=openid)
            session.add(person)
            session.flush()
            session.add(
                ChannelIdentity(
                    person_id=person.id,
                    channel="wechat",
                    external_id=openid,
                    last_inbound_at=now - silent if silent else None,
                )
            )
            session.add(
                Notification(
                    key=f"k-{openid}",
                    person_id=person.id,
                    channel="wechat",
                    external_id=openid,
                    kind=NoticeKind.resolved,
                    payload={"number": openid},
                )
            )
    wechat = RecordingWeChat()
    with OutboxWorker(
        factory, {"wechat": wechat}, worker_id="w", config=CONFIG, fallback=wechat_template_fallback
    ) as worker:
        result = worker.drain_once()
    assert wechat.recipients == ["o-recent"]
    assert (result.sent, result.fallback) == (1, 2)
    with factory() as session:
        status = dict(session.execute(select(Notification.key, Notification.status)).all())
    assert status == {
        "k-o-recent": "sent",
        "k-o-stale": "fallback",
        "k-o-never": "fallback",
        "k-o-stale:tpl": "pending",
        "k-o-never:tpl": "pending",
    }
    with factory() as session:
        template = session.scalars(select(Notification).where(Notification.key == "k-o-stale:tpl")).one()
    assert (template.channel, template.external_id) == ("wechat_template", "o-stale")
    assert template.kind == NoticeKind.resolved
    assert template.payload["number"] == "o-stale" and template.payload["fallback_from"] == "wechat"


def test_default_fallback_declines_without_a_wechat_identity(
    factory: sessionmaker[Session], fake_tg: FakeTelegram, sender: TelegramHttpSender | TelegramBatchSender
) -> None:
    with transaction(factory) as session:
        person = Person(kind="resident", name="tg only")
        session.add(person)
        session.flush()
        session.add(
            Notification(
                key="k1", person_id=person.id, channel="telegram", external_id=CHAT, kind=NoticeKind.closed, payload={}
            )
        )
    fake_tg.script(CHAT, Failure.blocked())
    with OutboxWorker(
        factory, {"telegram": sender}, worker_id="w", config=CONFIG, fallback=wechat_template_fallback
    ) as worker:
        result = worker.drain_once()
    assert (result.fallback, result.dead) == (0, 1)

"""A chat reply that goes through the outbox: a staff member's goes before their routine notices (an alarm
before it), a resident's waits its turn (backend.domain.notifications.reply_priority).

The message goes in through the real Telegram webhook; the outbox worker and sender deliver to the fake
Telegram server at one message a second per chat, so one drain sends one message to each chat: the first
in that chat's queue.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Notification, Staff
from backend.domain.notifications import NoticeKind
from backend.runtime import Runtime
from backend.services.notify import notify_person
from backend.workers.outbox import OutboxConfig, OutboxWorker
from backend.workers.ratelimit import ChannelLimits, Rate, RateLimits
from bot.messages import Inbound, InboundKind
from tests.bot.platform_drivers import TelegramDriver, Who
from tests.fakes.channels import TELEGRAM_SECRET

GRIDWORKER: Who = ("staff", "GW001")
RESIDENT: Who = ("resident", "rosa")
ONE_A_SECOND = OutboxConfig(
    max_rate_wait=0.5, limits=RateLimits({"telegram": ChannelLimits(channel=None, recipient=Rate(1.0, 1.0))})
)


@pytest.fixture
def telegram(runtime: Runtime, session_factory: sessionmaker[Session]) -> Iterator[TelegramDriver]:
    driver = TelegramDriver(runtime, session_factory)
    yield driver
    driver.close()


def queue_routine_notices(session_factory: sessionmaker[Session], chat: str, count: int) -> None:
    """Task reminders waiting for a chat, as a busy morning leaves them."""
    with session_factory() as session:
        session.add_all(
            Notification(
                key=f"reminder{i}:{chat}",
                channel="telegram",
                external_id=chat,
                kind=NoticeKind.task_reminder,
                payload={"number": f"GB20261207-000{i}", "lang": "zh"},
            )
            for i in range(count)
        )
        session.commit()


def write(telegram: TelegramDriver, who: Who, text: str) -> None:
    """Post a message to the webhook and leave its reply in the outbox (the driver's send would deliver it)."""
    update = telegram.update(telegram.external_id(who), Inbound("", "", InboundKind.text, text=text))
    response = telegram.client.post(
        "/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    )
    assert response.status_code == 200, response.text


def statuses_after_one_claim(telegram: TelegramDriver, session_factory: sessionmaker[Session]) -> dict[str, list[str]]:
    """One claim of the worker; then the status of the queued rows of each kind, oldest first."""
    with OutboxWorker(session_factory, {"telegram": telegram.sender}, worker_id="w", config=ONE_A_SECOND) as worker:
        worker.drain_once()
    with session_factory() as session:
        rows = session.scalars(select(Notification).order_by(Notification.id)).all()
    statuses: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        statuses[row.kind].append(row.status)
    return dict(statuses)


def test_a_gridworkers_reply_goes_before_the_reminders_queued_for_them(
    telegram: TelegramDriver, session_factory: sessionmaker[Session]
) -> None:
    queue_routine_notices(session_factory, telegram.external_id(GRIDWORKER), 3)
    write(telegram, GRIDWORKER, "我的任务")
    # The one message the chat's limit lets through now is the answer to what they just asked.
    assert statuses_after_one_claim(telegram, session_factory) == {
        NoticeKind.task_reminder: ["pending"] * 3,
        NoticeKind.chat_reply: ["sent"],
    }


def test_a_residents_reply_waits_behind_the_notices_queued_before_it(
    telegram: TelegramDriver, session_factory: sessionmaker[Session]
) -> None:
    queue_routine_notices(session_factory, telegram.external_id(RESIDENT), 2)
    write(telegram, RESIDENT, "你好")
    assert statuses_after_one_claim(telegram, session_factory) == {
        NoticeKind.task_reminder: ["sent", "pending"],
        NoticeKind.chat_reply: ["pending"],
    }


def test_an_alarm_raised_after_a_gridworkers_reply_still_goes_first(
    telegram: TelegramDriver, session_factory: sessionmaker[Session]
) -> None:
    queue_routine_notices(session_factory, telegram.external_id(GRIDWORKER), 2)
    write(telegram, GRIDWORKER, "我的任务")
    with session_factory() as session:
        gridworker = session.scalars(select(Staff).where(Staff.code == GRIDWORKER[1])).one()
        alarm = {"number": "GB20261207-0099", "category": "燃气泄漏", "level": "grid"}
        notify_person(
            session, person=gridworker.person, kind=NoticeKind.urgent_alarm, key="alarm", ticket=None, payload=alarm
        )
        session.commit()
    assert statuses_after_one_claim(telegram, session_factory) == {
        NoticeKind.task_reminder: ["pending"] * 2,
        NoticeKind.chat_reply: ["pending"],
        NoticeKind.urgent_alarm: ["sent"],
    }

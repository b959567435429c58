"""The rate limits hold as measured by the fake Bot API's arrival timestamps."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import ChannelIdentity, Notification, NotificationAttempt, Person
from backend.db.session import transaction
from backend.db.types import utcnow
from backend.domain.notifications import NoticeKind
from backend.services.notify import notify_person
from backend.texts import catalogue
from backend.workers.channels import Delivery
from backend.workers.outbox import OutboxConfig, OutboxWorker, repeat_report, run_worker
from backend.workers.ratelimit import ChannelLimits, Rate, RateLimits
from backend.workers.retry import RetryPolicy
from bot.telegram.aiohttp_request import AiohttpRequest
from bot.telegram.batch_sender import TelegramBatchSender
from bot.telegram.http_sender import TelegramHttpSender
from bot.telegram.send import TelegramSender
from bot.telegram.send_by import SlotMissed, sending_by
from tests.workers.conftest import add_notifications
from tests.workers.fake_telegram import Call, Failure, FakeTelegram

CHANNEL = Rate(20.0, 5.0)
RECIPIENT = Rate(2.0, 1.0)
JITTER = 0.25  # seconds of scheduling noise between the limiter's clock and the fake's arrival times


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] < t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def queue_busy_and_single_chats(factory: sessionmaker[Session]) -> None:
    """30 chats with one message each and three busy chats with five reminders each (new tasks held back by a
    chat's limit would be folded into one message)."""
    add_notifications(factory, 30, prefix="single")
    with transaction(factory) as session:
        session.add_all(
            [
                Notification(
                    key=f"busy{c}-{i}",
                    channel="telegram",
                    external_id=f"busy{c}",
                    kind=NoticeKind.task_reminder,
                    payload={"number": f"busy{c}-{i}"},
                )
                for c in range(3)
                for i in range(5)
            ]
        )


def pending(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).where(Notification.status == "pending")) or 0)


def drain_until_sent(factory: sessionmaker[Session], worker: OutboxWorker, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and pending(factory):
        if worker.drain_once().claimed == 0:
            time.sleep(0.05)


def assert_limits_held(fake_tg: FakeTelegram) -> None:
    """Every message arrived once, the channel and each busy chat within their rates."""
    calls = fake_tg.delivered()
    assert len(calls) == 45 and len({c.params["text"] for c in calls}) == 45
    # Channel: at most burst + rate·w messages in any window w.
    all_times = [c.at for c in calls]
    assert max_in_window(all_times, 1.0 - JITTER) <= CHANNEL.max_in_window(1.0)
    # Each chat: one message per 1/rate seconds.
    per_chat: dict[str, list[float]] = defaultdict(list)
    for c in calls:
        per_chat[str(c.params["chat_id"])].append(c.at)
    for chat in ("busy0", "busy1", "busy2"):
        times = sorted(per_chat[chat])
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert len(times) == 5 and min(gaps) >= 1 / RECIPIENT.per_second - JITTER
    # The limits really held messages back: 5 messages to one chat at 2/s need 2 s.
    assert max(all_times) - min(all_times) >= 2.0 - JITTER


CONFIG = OutboxConfig(
    batch_size=50,
    lease_seconds=10.0,
    send_threads=16,
    idle_sleep=0.05,
    max_rate_wait=0.5,
    limits=RateLimits({"telegram": ChannelLimits(CHANNEL, RECIPIENT)}),
)


@pytest.mark.parametrize("sender_class", [TelegramHttpSender, TelegramBatchSender])
def test_channel_and_per_chat_limits_hold_at_the_server(
    factory: sessionmaker[Session], fake_tg: FakeTelegram, sender_class: type[TelegramHttpSender | TelegramBatchSender]
) -> None:
    queue_busy_and_single_chats(factory)
    sender = sender_class(fake_tg.base_url, "TEST:TOKEN", timeout=2.0)
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=CONFIG) as worker:
        drain_until_sent(factory, worker)
    sender.close()
    assert_limits_held(fake_tg)


def test_two_workers_together_keep_the_limits_of_one(factory: sessionmaker[Session], fake_tg: FakeTelegram) -> None:
    queue_busy_and_single_chats(factory)
    # Small batches, so both workers hold rows of the busy chats and book them against each other.
    config = replace(CONFIG, batch_size=5)
    senders = [TelegramHttpSender(fake_tg.base_url, "TEST:TOKEN", timeout=2.0) for _ in range(2)]
    workers = [OutboxWorker(factory, {"telegram": s}, worker_id=f"w{i}", config=config) for i, s in enumerate(senders)]
    threads = [threading.Thread(target=drain_until_sent, args=(factory, w)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for worker, sender in zip(workers, senders, strict=True):
        worker.close()
        sender.close()
    with factory() as session:
        by_worker = dict(
            session.execute(select(NotificationAttempt.worker, func.count()).group_by(NotificationAttempt.worker)).all()
        )
    assert set(by_worker) == {"w0", "w1"}  # both really sent
    assert_limits_held(fake_tg)


def test_messages_waiting_for_their_slot_hold_no_send_thread(
    factory: sessionmaker[Session], fake_tg: FakeTelegram
) -> None:
    # "wechat" (here sent through the Bot API too) is held to one message a second; "telegram" has no limit.
    add_notifications(factory, 3, channel="wechat", prefix="slow")
    add_notifications(factory, 4, channel="telegram", prefix="fast")
    config = replace(
        CONFIG, send_threads=2, max_rate_wait=3.0, limits=RateLimits({"wechat": ChannelLimits(Rate(1.0, 1.0), None)})
    )
    senders = {
        channel: TelegramHttpSender(fake_tg.base_url, "TEST:TOKEN", timeout=2.0) for channel in ("wechat", "telegram")
    }
    with OutboxWorker(factory, senders, worker_id="w", config=config) as worker:
        assert worker.drain_once().sent == 7
    for sender in senders.values():
        sender.close()
    arrived = sorted(fake_tg.delivered(), key=lambda c: c.at)
    slow = [c.at for c in arrived if "slow" in c.params["text"]]
    fast = [c.at for c in arrived if "fast" in c.params["text"]]
    # The held-back messages waited for their slots (1 s apart) without taking the two send threads:
    # the unlimited channel's messages, claimed after them, went out before the second of them.
    assert len(slow) == 3 and min(b - a for a, b in zip(slow, slow[1:], strict=False)) >= 1.0 - JITTER
    assert len(fast) == 4 and max(fast) < slow[1]


def test_a_channel_at_its_limit_does_not_hold_back_another_channels_messages(
    factory: sessionmaker[Session], fake_tg: FakeTelegram
) -> None:
    # 400 resident replies on a channel held to 20 a second (20 s of sends, here through the Bot API too) are
    # queued before a gridworker's new tasks on another channel.
    add_notifications(factory, 400, channel="wechat", prefix="resident")
    limits = RateLimits({"wechat": ChannelLimits(Rate(20.0, 5.0), None)})
    config = replace(CONFIG, max_rate_wait=2.0, limits=limits)
    senders = {
        channel: TelegramHttpSender(fake_tg.base_url, "TEST:TOKEN", timeout=2.0) for channel in ("wechat", "wecom")
    }
    stop, totals = threading.Event(), []
    worker = threading.Thread(
        target=lambda: totals.append(run_worker(factory, senders, worker_id="w", stop_event=stop, config=config))
    )
    worker.start()
    try:
        time.sleep(1.0)  # the backlog is being worked off
        queued = time.monotonic()
        add_notifications(factory, 5, channel="wecom", prefix="gridworker")
        while time.monotonic() - queued < 10 and sum("gridworker" in c.params["text"] for c in fake_tg.delivered()) < 5:
            time.sleep(0.01)
    finally:
        stop.set()
        worker.join()
    for sender in senders.values():
        sender.close()
    tasks = [c.at for c in fake_tg.delivered() if "gridworker" in c.params["text"]]
    # Claimed behind the backlog, they waited for batch after batch of replies, each waiting for its last slot
    # up to max_rate_wait ahead: 7 s here, and longer the longer the backlog.
    assert len(tasks) == 5 and max(tasks) - queued < 0.5
    # The limited channel was claimed only as far as its limit let rows out: none put back unsent.
    assert totals[0].deferred == 0
    replies = [c.at for c in fake_tg.delivered() if "resident" in c.params["text"]]
    assert max_in_window(replies, 1.0 - JITTER) <= Rate(20.0, 5.0).max_in_window(1.0)


def raise_alarm(factory: sessionmaker[Session], chat_id: str) -> None:
    """Queue an urgent alarm (URGENT1) to a dispatcher on that Telegram chat, as the workflow does."""
    with transaction(factory) as session:
        dispatcher = Person(kind="staff", name="社区值班调度员")
        session.add(ChannelIdentity(person=dispatcher, channel="telegram", external_id=chat_id))
        session.flush()
        alarm = {"number": "URGENT1", "category": "燃气泄漏", "level": "community"}
        notify_person(session, person=dispatcher, kind=NoticeKind.urgent_alarm, key="a", ticket=None, payload=alarm)


def drain_until_the_alarm_is_out(worker: OutboxWorker, fake_tg: FakeTelegram, seconds: float = 15) -> float:
    """Drain until URGENT1 arrives at the fake (or `seconds` pass); returns when draining started."""
    started = time.monotonic()
    while not any("URGENT1" in c.params["text"] for c in fake_tg.delivered()) and time.monotonic() - started < seconds:
        if worker.drain_once().claimed == 0:
            time.sleep(0.02)
    return started


def test_an_urgent_alarm_overtakes_the_routine_cards_queued_for_its_dispatcher(
    factory: sessionmaker[Session], fake_tg: FakeTelegram
) -> None:
    # Eight routine cards wait for one dispatcher, who may get one message a second, when an alarm is raised.
    add_notifications(factory, 8, chats=1, prefix="routine")
    raise_alarm(factory, "1000")
    config = replace(CONFIG, max_rate_wait=2.0, limits=RateLimits({"telegram": ChannelLimits(None, Rate(1.0, 1.0))}))
    sender = TelegramHttpSender(fake_tg.base_url, "TEST:TOKEN", timeout=2.0)
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=config) as worker:
        started = drain_until_the_alarm_is_out(worker, fake_tg)
    sender.close()
    arrived = sorted(fake_tg.delivered(), key=lambda c: c.at)
    # First in the dispatcher's queue, not ninth: behind the cards it would have waited 8 s.
    assert "URGENT1" in arrived[0].params["text"] and arrived[0].at - started < 0.5


def test_an_alarm_that_failed_once_goes_before_the_backlog_when_retried(
    factory: sessionmaker[Session], fake_tg: FakeTelegram
) -> None:
    # 200 resident replies wait on a channel that sends 20 a second (10 s of backlog) when an alarm is raised.
    # Its first send fails; the retry, due within a second, must not queue behind the backlog.
    add_notifications(factory, 200, prefix="reply")
    fake_tg.script("9000", Failure.server_error())
    raise_alarm(factory, "9000")
    config = replace(
        CONFIG,
        max_rate_wait=0.5,
        retry=RetryPolicy(base_seconds=1.0),
        limits=RateLimits({"telegram": ChannelLimits(Rate(20.0, 20.0), None)}),
    )
    sender = TelegramHttpSender(fake_tg.base_url, "TEST:TOKEN", timeout=2.0)
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=config) as worker:
        started = drain_until_the_alarm_is_out(worker, fake_tg)
    sender.close()
    arrived = [c.at - started for c in fake_tg.delivered() if "URGENT1" in c.params["text"]]
    # The retry is due 0.5–1 s after the failure and takes the channel's next slot (a drain in progress may
    # take another 0.5 s to finish); behind the backlog it took 10 s.
    assert arrived and arrived[0] < 3.0, arrived


def test_new_tasks_held_back_by_a_members_quota_go_out_together_in_the_next_slot(
    factory: sessionmaker[Session], fake_tg: FakeTelegram
) -> None:
    # Ten new tasks for one gridworker whose channel allows two messages at once, then one per 2.2 s (WeCom's
    # default per member): as cards, the last would arrive after 18 s.
    add_notifications(factory, 10, chats=1, prefix="GB", kind=NoticeKind.task_new)
    with transaction(factory) as session:
        session.add(Notification(key="r", channel="telegram", external_id="1000", kind=NoticeKind.task_reminder))
    config = replace(CONFIG, max_rate_wait=2.0, limits=RateLimits({"telegram": ChannelLimits(None, Rate(0.45, 2.0))}))
    sender = TelegramSender("TEST:TOKEN", api_base=fake_tg.base_url)  # renders the list from the catalogue
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=config) as worker:
        started = time.monotonic()
        worker.drain_once()
    sender.close()
    calls = sorted(fake_tg.delivered(), key=lambda c: c.at)
    # A card, then one list of the other nine tasks in the second slot; the reminder waits its turn.
    assert len(calls) == 2 and calls[-1].at - started < 1.0
    assert "GB0" in calls[0].params["text"] and "GB1" not in calls[0].params["text"]
    assert all(f"GB{i}" in calls[1].params["text"] for i in range(1, 10))
    with factory() as session:
        statuses = {key: status for key, status in session.execute(select(Notification.key, Notification.status))}
        assert statuses == {"GB0": "sent", "GB1": "sent", "r": "pending"} | {f"GB{i}": "folded" for i in range(2, 10)}
        assert repeat_report(session).possible_repeats == 0  # a folded row is no attempt


def test_a_dispatchers_held_back_desk_reports_and_new_tasks_go_as_one_list_of_each(
    factory: sessionmaker[Session], fake_tg: FakeTelegram
) -> None:
    # A storm's unsure reports reach a dispatcher who also handles tasks, at WeCom's default member limit (two
    # at once, then one per 2.2 s): 8 reports to triage and 4 new tasks, as cards the last after 22 s.
    kinds = [NoticeKind.desk_new, NoticeKind.task_new] * 2 + [NoticeKind.desk_new] * 6 + [NoticeKind.task_new] * 2
    with transaction(factory) as session:
        for i, kind in enumerate(kinds):
            number = f"{'D' if kind is NoticeKind.desk_new else 'T'}{i:02}"
            payload = {"number": number, "reason": "no_place"}
            session.add(Notification(key=number, channel="telegram", external_id="1000", kind=kind, payload=payload))
    config = replace(CONFIG, max_rate_wait=2.0, limits=RateLimits({"telegram": ChannelLimits(None, Rate(0.45, 2.0))}))
    sender = TelegramSender("TEST:TOKEN", api_base=fake_tg.base_url)
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=config) as worker:
        started = time.monotonic()
        worker.drain_once()
    sender.close()
    texts = sorted(c.params["text"] for c in fake_tg.delivered() if c.at - started < 1.0)
    desk = [n for n, kind in enumerate(kinds) if kind is NoticeKind.desk_new]
    tasks = [n for n in range(len(kinds)) if n not in desk]
    # Both burst slots carry a list: every report to triage in one, every new task in the other, never mixed.
    assert len(texts) == 2 and len(fake_tg.delivered()) == 2
    (desk_list,) = [text for text in texts if "待分拨 8 件" in text]
    (task_list,) = [text for text in texts if "新任务 4 件" in text]
    assert all(f"D{n:02}" in desk_list for n in desk) and not any(f"T{n:02}" in desk_list for n in tasks)
    assert all(f"T{n:02}" in task_list for n in tasks) and "地点不明" in desk_list
    with factory() as session:
        statuses = [status for (status,) in session.execute(select(Notification.status))]
        assert statuses.count("sent") == 2 and statuses.count("folded") == 10


MEMBER_QUOTA = replace(CONFIG, max_rate_wait=0.5, limits=RateLimits({"telegram": ChannelLimits(None, Rate(0.45, 2.0))}))


def queue_tasks(
    factory: sessionmaker[Session], *numbers: int, due_in: float = 0.0, leased_by: str | None = None
) -> None:
    """New-task notices GB<n> for the gridworker of chat 1000, due in `due_in` seconds (a flood wait or a
    retry's back-off), or leased by another worker for a minute."""
    now = utcnow()
    with transaction(factory) as session:
        session.add_all(
            Notification(
                key=f"GB{n}",
                channel="telegram",
                external_id="1000",
                kind=NoticeKind.task_new,
                payload={"number": f"GB{n}"},
                next_attempt_at=now + timedelta(seconds=due_in),
                lease_owner=leased_by,
                lease_until=now + timedelta(minutes=1) if leased_by else None,
            )
            for n in numbers
        )


def queued_for_the_member(factory: sessionmaker[Session]) -> list[tuple[str, list[str], datetime]]:
    """The pending rows: key, the ticket numbers in the message, due time."""
    with factory() as session:
        pending = session.scalars(select(Notification).where(Notification.status == "pending").order_by("id"))
        return [
            (row.key, [item["number"] for item in row.payload.get("items") or [row.payload]], row.next_attempt_at)
            for row in pending
        ]


def one_claim(factory: sessionmaker[Session], fake_tg: FakeTelegram) -> list[Call]:
    """What the fake Bot API received from one claim of a worker with no limits."""
    sender = TelegramSender("TEST:TOKEN", api_base=fake_tg.base_url)
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=CONFIG) as worker:
        worker.drain_once()
    sender.close()
    return fake_tg.delivered()


def test_a_held_back_list_takes_in_the_tasks_queued_since_and_goes_in_the_next_slot(
    factory: sessionmaker[Session], fake_tg: FakeTelegram
) -> None:
    sender = TelegramSender("TEST:TOKEN", api_base=fake_tg.base_url)
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=MEMBER_QUOTA) as worker:
        queue_tasks(factory, 0, 1)
        worker.drain_once()  # the member's burst: two cards
        queue_tasks(factory, 2, 3, 4)
        worker.drain_once()  # no slot within 0.5 s: one list of three, put back for the slot 2.2 s on
        queue_tasks(factory, 5, 6)  # newer tasks, held back too
        worker.drain_once()
        # One list waits for the member, of all five: never two lists racing for the next slot.
        ((_, numbers, _),) = queued_for_the_member(factory)
        assert numbers == [f"GB{i}" for i in range(2, 7)]
        started = time.monotonic()
        while len(fake_tg.delivered()) < 3 and time.monotonic() - started < 8:
            if worker.drain_once().claimed == 0:
                time.sleep(0.05)
    sender.close()
    calls = sorted(fake_tg.delivered(), key=lambda c: c.at)
    # The third message is the list of all five, at the member's next slot; no card went before it.
    assert len(calls) == 3 and all(f"GB{i}" in calls[2].params["text"] for i in range(2, 7))
    assert calls[2].at - calls[0].at < 2.22 + 0.5
    assert queued_for_the_member(factory) == []


def test_a_new_task_sent_at_once_takes_in_the_tasks_still_queued_for_the_member(
    factory: sessionmaker[Session], fake_tg: FakeTelegram
) -> None:
    queue_tasks(factory, 0, due_in=60)  # put back a minute by the platform's flood wait
    queue_tasks(factory, 1)
    # The slot the new task gets carries the older one too, which would otherwise come a minute after it.
    (call,) = one_claim(factory, fake_tg)
    assert "GB0" in call.params["text"] and "GB1" in call.params["text"]
    assert queued_for_the_member(factory) == []
    with factory() as session:
        assert repeat_report(session).possible_repeats == 0  # the row folded unclaimed counts no attempt


def test_a_list_held_back_goes_at_its_own_slot_not_with_a_task_waiting_longer(
    factory: sessionmaker[Session], fake_tg: FakeTelegram
) -> None:
    sender = TelegramSender("TEST:TOKEN", api_base=fake_tg.base_url)
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=MEMBER_QUOTA) as worker:
        queue_tasks(factory, 0, 1)
        worker.drain_once()  # the member's burst
        queue_tasks(factory, 9, due_in=300)  # a task in a retry's five-minute back-off
        queue_tasks(factory, 2, 3)
        worker.drain_once()
    sender.close()
    # One list of the three, due at the member's next slot (2.2 s), not in five minutes.
    ((_, numbers, due),) = queued_for_the_member(factory)
    assert sorted(numbers) == ["GB2", "GB3", "GB9"] and due < utcnow() + timedelta(seconds=10)


def test_a_task_another_worker_is_sending_is_not_folded(factory: sessionmaker[Session], fake_tg: FakeTelegram) -> None:
    queue_tasks(factory, 0, leased_by="other")
    queue_tasks(factory, 1)
    (call,) = one_claim(factory, fake_tg)
    assert "GB1" in call.params["text"] and "GB0" not in call.params["text"]
    assert [key for key, *_ in queued_for_the_member(factory)] == ["GB0"]


@pytest.mark.parametrize("sender_class", [TelegramSender, TelegramBatchSender])
def test_a_busy_chats_batch_goes_out_at_its_booked_slots_not_later(
    factory: sessionmaker[Session], fake_tg: FakeTelegram, sender_class: type[TelegramSender | TelegramBatchSender]
) -> None:
    add_notifications(factory, 5, chats=1)
    # Four a second to the chat: slots 0, 0.25, 0.5, 0.75 and 1 s from the batch's start (within max_rate_wait).
    config = replace(CONFIG, max_rate_wait=1.5, limits=RateLimits({"telegram": ChannelLimits(None, Rate(4.0, 1.0))}))
    sender = (
        TelegramSender("TEST:TOKEN", api_base=fake_tg.base_url)
        if sender_class is TelegramSender
        else TelegramBatchSender(fake_tg.base_url, "TEST:TOKEN", timeout=2.0)
    )
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=config) as worker:
        started = time.monotonic()
        assert worker.drain_once().sent == 5
    sender.close()
    times = sorted(c.at for c in fake_tg.delivered())
    # Each slot counts from the batch's start, not from the chat's previous message: the last one goes out
    # after 1 s, where waiting each delay after the previous send took 0.25 + 0.5 + 0.75 + 1 = 2.5 s.
    assert len(times) == 5 and 1.0 <= times[-1] - started < 1.0 + 2 * JITTER


def test_the_first_batch_after_start_goes_at_its_slots_although_getme_is_slow(
    factory: sessionmaker[Session], fake_tg: FakeTelegram
) -> None:
    fake_tg.get_me_seconds = 0.3
    # getMe is asked when the sender starts (as a worker starts), not when the first batch is sent: that batch,
    # booked for at once under a channel limit, would wait for it past the 0.1 s a send may be late.
    sender = TelegramSender("TEST:TOKEN", api_base=fake_tg.base_url)
    catalogue()  # parsed at a worker's start (bot.app.settle_heap), not in its first batch
    time.sleep(0.5)  # the rest of the worker's start-up
    add_notifications(factory, 5)
    config = replace(CONFIG, limits=RateLimits({"telegram": ChannelLimits(Rate(30.0, 30.0), None)}))
    with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=config) as worker:
        first = worker.drain_once()
    sender.close()
    assert (first.sent, first.deferred) == (5, 0)
    assert len(fake_tg.delivered()) == 5


def test_a_send_that_waits_past_its_slot_for_a_connection_goes_back_unsent(
    factory: sessionmaker[Session], fake_tg: FakeTelegram
) -> None:
    # One pooled connection. Both messages are booked for at once and pass the lateness check as their sends
    # start; the first chat's answer then takes 0.3 s, and the second waits for the connection that long. Sent
    # then, it would land on the slots booked since: it goes back instead, and goes out once later.
    fake_tg.script(1000, Failure(504, delay=0.3))
    add_notifications(factory, 2)
    sender = TelegramSender("TEST:TOKEN", api_base=fake_tg.base_url, pool_size=1)
    config = replace(CONFIG, limits=RateLimits({"telegram": ChannelLimits(Rate(30.0, 30.0), None)}))
    try:
        with OutboxWorker(factory, {"telegram": sender}, worker_id="w", config=config) as worker:
            first = worker.drain_once()
            # (On a machine busy enough, the first chat's message may be given back too.)
            assert first.sent == 0 and first.deferred >= 1
            with factory() as session:
                held = session.scalars(select(Notification).where(Notification.external_id == "1001")).one()
                assert held.status == "pending" and held.attempts == 0  # not an attempt
            assert "1001" not in [c.params["chat_id"] for c in fake_tg.sent()]
            drain_until_sent(factory, worker)
    finally:
        sender.close()
    assert sorted(c.params["chat_id"] for c in fake_tg.delivered()) == ["1000", "1001"]


def test_a_connection_that_came_too_late_for_its_slot_is_kept_for_the_next_try(fake_tg: FakeTelegram) -> None:
    # Over a real network a new connection can take longer than a slot may wait: dropped, every try after a quiet
    # spell would open one again and miss again.
    request = AiohttpRequest()
    url = f"{fake_tg.base_url}TEST:TOKEN/getMe"

    async def two_tries() -> None:
        await request.initialize()
        try:
            with sending_by(asyncio.get_running_loop().time() - 0.001), pytest.raises(SlotMissed):
                await request.post(url)
            assert fake_tg.calls == []  # nothing was sent
            await request.post(url)  # the next try, on the connection the first one opened
        finally:
            await request.shutdown()

    asyncio.run(two_tries())
    assert [c.method for c in fake_tg.calls] == ["getMe"]
    assert fake_tg.connections == 1


class OneAtATime:
    """A channel whose sends take `seconds` each (the Sender protocol), noting when each began."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.began: list[tuple[float, str]] = []

    def send(self, delivery: Delivery) -> None:
        self.began.append((time.monotonic(), delivery.recipient))
        time.sleep(self.seconds)


def test_a_row_too_late_for_its_slot_goes_back_unsent_and_is_sent_once_later(factory: sessionmaker[Session]) -> None:
    # Ten a second with a burst of five, less the 0.1 s a send may be late: four go at once, the next four wait
    # for slots 0.1 to 0.4 s. One send thread whose sends take 0.4 s: those slots pass while it is busy.
    add_notifications(factory, 8, channel="wechat", prefix="late")
    sender = OneAtATime(0.4)
    limits = RateLimits({"wechat": ChannelLimits(Rate(10.0, 5.0), None)})
    config = replace(CONFIG, send_threads=1, max_rate_wait=2.0, limits=limits)
    with OutboxWorker(factory, {"wechat": sender}, worker_id="w", config=config) as worker:
        first = worker.drain_once()
        # The first goes at once. The thread is free again at 0.4 s: the three other rows booked for at once
        # and those for 0.1 and 0.2 s are too late by then (sent, they would land on slots booked since) and go
        # back; at most the last two are still within 0.1 s of their slots.
        assert first.retried == 0 and first.sent + first.deferred == 8
        assert 1 <= first.sent <= 3 and first.deferred >= 5
        with factory() as session:
            back = session.scalars(select(Notification).where(Notification.status == "pending")).all()
            assert len(back) == first.deferred and all(row.attempts == 0 for row in back)  # not attempts
        drain_until_sent(factory, worker)
    recipients = [recipient for _, recipient in sender.began]
    assert len(recipients) == 8 and len(set(recipients)) == 8  # each sent once
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(NotificationAttempt)) == 8

"""Periodic jobs run once per period even with two workers polling the same database."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import JobLease
from backend.workers.outbox import OutboxConfig, run_worker
from backend.workers.periodic import PeriodicJob, PeriodicRunner, daily_at, every, standard_jobs

PERIOD = 0.4


def test_two_workers_run_a_job_once_per_period(factory: sessionmaker[Session]) -> None:
    key = every(PERIOD)
    runs: list[tuple[str, str]] = []
    lock = threading.Lock()

    def tick(now: datetime) -> None:
        with lock:
            runs.append((key(now), threading.current_thread().name))
        time.sleep(0.05)  # a job takes a moment, so the two workers really overlap

    stop = threading.Event()
    config = OutboxConfig(idle_sleep=0.05, job_check_seconds=0.01)
    jobs = [PeriodicJob("sla_tick", key, tick)]
    threads = [
        threading.Thread(
            target=run_worker,
            args=(factory, {}),
            kwargs={"worker_id": f"w{i}", "stop_event": stop, "jobs": jobs, "config": config},
        )
        for i in range(2)
    ]
    started = time.time()
    for t in threads:
        t.start()
    time.sleep(8 * PERIOD)
    stop.set()
    for t in threads:
        t.join()
    elapsed_periods = (time.time() - started) / PERIOD
    periods = Counter(period for period, _ in runs)
    assert all(n == 1 for n in periods.values()), periods
    assert len(periods) >= elapsed_periods / 2  # and the job kept running (a loaded machine may skip one)
    assert {worker for _, worker in runs} <= {"jobs-w0", "jobs-w1"}


def test_failed_job_is_tried_again_in_the_same_period(factory: sessionmaker[Session]) -> None:
    calls: list[datetime] = []

    def flaky(now: datetime) -> None:
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")

    runner = PeriodicRunner(factory, [PeriodicJob("digest", every(3600), flaky)], worker_id="w")
    assert runner.run_due() == []
    assert runner.run_due() == ["digest"]
    assert runner.run_due() == []  # done for this period
    assert len(calls) == 2


def test_a_lagging_clock_does_not_rerun_an_earlier_period(factory: sessionmaker[Session]) -> None:
    ran: list[str] = []
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    clocks = {"ahead": lambda: now, "behind": lambda: now - timedelta(minutes=1)}
    runners = {
        name: PeriodicRunner(
            factory, [PeriodicJob("tick", every(60), lambda _, n=name: ran.append(n))], worker_id=name, clock=clock
        )
        for name, clock in clocks.items()
    }
    assert runners["ahead"].run_due() == ["tick"]
    assert runners["behind"].run_due() == []
    assert ran == ["ahead"]


def test_crashed_job_lease_expires_and_another_worker_runs_the_period(factory: sessionmaker[Session]) -> None:
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    t = {"now": now}
    ran: list[str] = []
    job = PeriodicJob("escalate", every(3600), lambda _: ran.append("ok"))
    crashed = PeriodicRunner(factory, [job], worker_id="crashed", lease_seconds=30, clock=lambda: t["now"])
    assert crashed._take("escalate", every(3600)(now), now)  # took the lease, then died without finishing
    other = PeriodicRunner(factory, [job], worker_id="other", lease_seconds=30, clock=lambda: t["now"])
    assert other.run_due() == []
    t["now"] = now + timedelta(seconds=31)
    assert other.run_due() == ["escalate"]
    with factory() as session:
        lease = session.scalars(select(JobLease)).one()
        assert (lease.owner, lease.last_period) == (None, every(3600)(t["now"]))


def test_daily_digest_is_due_from_its_local_time_onwards() -> None:
    key = daily_at("08:00", tz="Asia/Shanghai")
    assert key(datetime(2026, 11, 22, 23, 59, tzinfo=UTC)) is None  # 07:59 in Shanghai
    assert key(datetime(2026, 11, 23, 0, 0, tzinfo=UTC)) == "2026-11-23"  # 08:00
    assert key(datetime(2026, 11, 23, 15, 59, tzinfo=UTC)) == "2026-11-23"  # late start still runs it
    assert key(datetime(2026, 11, 23, 16, 0, tzinfo=UTC)) is None  # midnight: the next day's is not due yet


def test_daily_job_runs_once_a_day(factory: sessionmaker[Session]) -> None:
    t = {"now": datetime(2026, 11, 23, 0, 30, tzinfo=UTC)}
    ran: list[datetime] = []
    runner = PeriodicRunner(
        factory,
        [PeriodicJob("digest", daily_at("08:00", tz="Asia/Shanghai"), ran.append)],
        worker_id="w",
        clock=lambda: t["now"],
    )
    for hours in (0, 1, 5, 20, 24, 25):
        t["now"] = datetime(2026, 11, 23, 0, 30, tzinfo=UTC) + timedelta(hours=hours)
        runner.run_due()
    # 08:30, 09:30, 13:30 on the 23rd → one run; 04:30 on the 24th → not due; 08:30, 09:30 on the 24th → one.
    assert [r.isoformat() for r in ran] == ["2026-11-23T00:30:00+00:00", "2026-11-24T00:30:00+00:00"]


def test_standard_jobs_run_sla_and_reminders_every_tick_and_the_digest_once_a_day(
    factory: sessionmaker[Session],
) -> None:
    t = {"now": datetime(2026, 11, 23, 0, 0, 30, tzinfo=UTC)}  # 08:00:30 in Shanghai
    ran: list[str] = []
    jobs = standard_jobs(
        sla_tick_seconds=60,
        digest_time="08:00",
        timezone="Asia/Shanghai",
        sla_tick=lambda _: ran.append("sla"),
        supervise=lambda _: ran.append("supervise"),
        digest=lambda _: ran.append("digest"),
    )
    runner = PeriodicRunner(factory, jobs, worker_id="w", clock=lambda: t["now"])
    runner.run_due()
    runner.run_due()
    t["now"] += timedelta(seconds=60)
    runner.run_due()
    assert ran == ["sla", "supervise", "digest", "sla", "supervise"]

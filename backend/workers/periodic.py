"""Periodic jobs (SLA tick, 督办 reminders, the daily digest) run once per period across all workers.

Each job has a row in job_leases. A worker takes the job for a period with one conditional UPDATE
(only if that period is not done and nobody holds a live lease), runs it, then marks the period done.
A worker that dies mid-job leaves a lease that expires, so another worker runs the period again:
exactly once while workers are healthy, at least once across crashes. Works on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import JobLease
from backend.db.session import transaction
from backend.db.types import utcnow

logger = logging.getLogger(__name__)

# Given the current time, the key of the period that is due (None: nothing due yet, e.g. before the digest
# time). Keys must sort in time order, so a worker whose clock lags cannot rerun a period already done.
PeriodKey = Callable[[datetime], "str | None"]


@dataclass(frozen=True)
class PeriodicJob:
    """A named job, when it is due, and what to run (called with the current UTC time)."""

    name: str
    period: PeriodKey
    run: Callable[[datetime], object]
    # How long one run may take before another worker assumes this one died (default: the runner's).
    lease_seconds: float | None = None


def every(seconds: float) -> PeriodKey:
    """Periods of a fixed length aligned to the epoch: every SLA tick of `seconds`."""
    if seconds <= 0:
        raise ValueError("a period must be positive")

    def key(now: datetime) -> str:
        return f"{int(now.timestamp() // seconds):016d}"

    return key


def daily_at(hhmm: str, tz: str) -> PeriodKey:
    """Once a day at or after a local time ("08:00"), e.g. the staff digest; a late start still runs it."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    at, zone = time(hour, minute), ZoneInfo(tz)

    def key(now: datetime) -> str | None:
        local = now.astimezone(zone)
        return local.date().isoformat() if local.time() >= at else None

    return key


class PeriodicRunner:
    """Runs the due jobs of one worker; several runners on one database share the work per period."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        jobs: Sequence[PeriodicJob],
        *,
        worker_id: str,
        lease_seconds: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"job names must be unique: {names}")
        self.session_factory = session_factory
        self.jobs = list(jobs)
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._known: set[str] = set()

    def run_due(self) -> list[str]:
        """Run every job whose current period nobody has run yet; returns the names run here."""
        ran = []
        for job in self.jobs:
            now = self.clock()
            period = job.period(now)
            if period is None or not self._take(job.name, period, now, job.lease_seconds):
                continue
            try:
                job.run(now)
            except Exception:
                logger.exception("job %s failed for period %s; it will be tried again", job.name, period)
                self._finish(job.name, None)
                continue
            self._finish(job.name, period)
            ran.append(job.name)
        return ran

    def loop(self, stop_event: threading.Event, check_seconds: float = 1.0) -> None:
        """Check the jobs every check_seconds until stop_event is set."""
        while not stop_event.is_set():
            try:
                self.run_due()
            except Exception:
                logger.exception("periodic runner of %s failed; retrying", self.worker_id)
            stop_event.wait(check_seconds)

    def _ensure_row(self, name: str) -> None:
        if name in self._known:
            return
        with transaction(self.session_factory) as session:
            exists = session.scalar(select(JobLease.name).where(JobLease.name == name))
            if exists is None:
                try:
                    with session.begin_nested():
                        session.add(JobLease(name=name))
                except IntegrityError:
                    pass  # another worker created it at the same moment
        self._known.add(name)

    def _take(self, name: str, period: str, now: datetime, lease_seconds: float | None = None) -> bool:
        self._ensure_row(name)
        lease = timedelta(seconds=lease_seconds or self.lease_seconds)
        with transaction(self.session_factory) as session:
            result = session.execute(
                update(JobLease)
                .where(
                    JobLease.name == name,
                    or_(JobLease.last_period.is_(None), JobLease.last_period < period),
                    or_(JobLease.lease_until.is_(None), JobLease.lease_until < now),
                )
                .values(owner=self.worker_id, lease_until=now + lease)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _finish(self, name: str, period: str | None) -> None:
        values: dict[str, object] = {"owner": None, "lease_until": None}
        if period is not None:
            values["last_period"] = period
        with transaction(self.session_factory) as session:
            session.execute(
                update(JobLease)
                .where(JobLease.name == name, JobLease.owner == self.worker_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )


def standard_jobs(
    *,
    sla_tick_seconds: float,
    digest_time: str,
    timezone: str,
    sla_tick: Callable[[datetime], object],
    supervise: Callable[[datetime], object] | None = None,
    digest: Callable[[datetime], object] | None = None,
) -> list[PeriodicJob]:
    """The worker's periodic jobs: the SLA tick (lights, escalation), 督办 reminders, the daily digest.

    Pass settings.sla_tick_seconds, settings.digest_time and settings.timezone; the callables are the
    backend's use cases (each runs its own transaction).
    """
    jobs = [PeriodicJob("sla_tick", every(sla_tick_seconds), sla_tick)]
    if supervise is not None:
        jobs.append(PeriodicJob("supervise_reminders", every(sla_tick_seconds), supervise))
    if digest is not None:
        jobs.append(PeriodicJob("daily_digest", daily_at(digest_time, tz=timezone), digest))
    return jobs

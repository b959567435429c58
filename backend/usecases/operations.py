"""What an operator runs from the command line: open the backend, migrate, load the city, accounts, jobs."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.cityconfig import CityConfig, city_files, load_city_dir
from backend.db.models import Person, Staff
from backend.db.rollups import compact, rebuild
from backend.db.session import make_engine, make_session_factory
from backend.domain.privacy import RetentionPolicy
from backend.runtime import ACTIVE_CITY, CITY_MANIFEST, Runtime, build_runtime
from backend.services import alarms, desk
from backend.services.corrections import export_corrections
from backend.services.demo_history import DemoHistory, HistoryPlan, HistorySummary
from backend.services.digest import digests_queued_for, queue_digests
from backend.services.housekeeping import purge_inbound, purge_nonces
from backend.services.public_report import queue_public_reports
from backend.services.reference import LoadSummary, deactivate_staff_except, sync_reference, sync_staff
from backend.services.retention import run_retention
from backend.services.security import hash_password
from backend.services.sla_job import SlaTickSummary, check_next_batch
from backend.settings import Settings
from backend.usecases import Backend
from backend.usecases.abandoned import desk_unanswered
from backend.workers.channels import Fallback, Sender
from backend.workers.outbox import DrainResult, OutboxConfig, run_worker
from backend.workers.periodic import PeriodicJob, daily_at, every, standard_jobs

logger = logging.getLogger(__name__)


def open_backend(settings: Settings, *, runtime: Runtime | None = None, load_classifier: bool = True) -> Backend:
    """The process's backend: config, indexes and models loaded once (unless given), and the database."""
    runtime = runtime or build_runtime(settings, load_classifier=load_classifier)
    return Backend(runtime, make_session_factory(make_engine(settings.database_url)))


def upgrade_database(settings: Settings, revision: str = "head") -> None:
    """Migrate the database to a schema revision."""
    from backend.db.migrate import upgrade

    upgrade(settings.database_url, revision)


def _session(settings: Settings) -> Any:
    return make_session_factory(make_engine(settings.database_url))()


def load_city(settings: Settings, city: CityConfig, *, demo_password: str | None) -> tuple[LoadSummary, int]:
    """Load departments, categories, areas and staff from a city's config; the counts written."""
    with _session(settings) as session:
        summary = sync_reference(session, city)
        staff = sync_staff(session, city, demo_password=demo_password)
        session.commit()
    return summary, staff


def load_demo_history(
    backend: Backend,
    *,
    days: int = 90,
    per_day: float = 12.0,
    seed: int = 18,
    on_day: Callable[[int], None] | None = None,
) -> HistorySummary:
    """Write a demo city's simulated past up to now (backend.services.demo_history), committing after each day."""
    plan = HistoryPlan(end=backend.runtime.clock.now(), days=days, per_day=per_day, seed=seed)
    with backend.session_factory() as session:
        history = DemoHistory(session, backend.runtime, plan)
        for done in history.days():
            session.commit()
            if on_day is not None:
                on_day(done)
        session.commit()
        return history.summary


@dataclass(frozen=True)
class CityImport:
    """What `gridbot import-city` did."""

    areas: int
    grids: int
    staff: int
    deactivated: int
    departments: int
    installed_in: Path


def import_city(settings: Settings, source: Path) -> CityImport:
    """Validate a city directory, write its departments, categories, areas and staff, and make it the city in use.

    Raises ConfigError (naming file, entry and field) before anything is written. Staff absent from the city's
    staff.csv are deactivated (admins are kept). The files are installed under the data directory
    (`var/city/`), where `build_runtime` loads them and a running server or worker picks them up within a
    second (`Runtime.refresh_city`), without a restart.
    """
    city = load_city_dir(source, base_dir=settings.config_dir)
    files = city_files(source, base_dir=settings.config_dir)
    with _session(settings) as session:
        summary = sync_reference(session, city)
        staff = sync_staff(session, city, demo_password=None)
        deactivated = deactivate_staff_except(session, set(city.staff))
        session.commit()
    installed = install_city_files(settings.data_dir / ACTIVE_CITY, files, source=source)
    return CityImport(
        areas=summary.areas,
        grids=sum(1 for a in city.areas.values() if a.level in ("grid", "special")),
        staff=staff,
        deactivated=deactivated,
        departments=summary.departments,
        installed_in=installed,
    )


def install_city_files(target: Path, files: Mapping[str, Path], *, source: Path) -> Path:
    """Copy a validated city's files to `target` with a manifest, replacing the previous city at once."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix="city-", dir=target.parent))
    manifest: dict[str, Any] = {"source": str(source.resolve()), "imported_at": datetime.now(UTC).isoformat()}
    digests: dict[str, str] = {}
    for name, path in files.items():
        data = path.read_bytes()
        (fresh / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    manifest["files"] = digests
    (fresh / CITY_MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def import_areas(settings: Settings, city: CityConfig) -> LoadSummary:
    """Import (upsert) the areas of a validated city config."""
    with _session(settings) as session:
        summary = sync_reference(session, city)
        session.commit()
    return summary


def import_staff(settings: Settings, city: CityConfig) -> int:
    """Import (upsert) the staff of a validated city config, without passwords."""
    with _session(settings) as session:
        count = sync_staff(session, city, demo_password=None)
        session.commit()
    return count


def create_admin(settings: Settings, *, code: str, name: str, password: str) -> None:
    """Create an admin account, or make an existing account an active admin with this password."""
    with _session(settings) as session:
        staff = session.scalar(select(Staff).where(Staff.code == code))
        if staff is None:
            person = Person(kind="staff", name=name)
            session.add(person)
            session.flush()
            staff = Staff(person_id=person.id, code=code, role="admin")
            session.add(staff)
        staff.role, staff.active, staff.password_hash = "admin", True, hash_password(password)
        session.commit()


def sla_tick(backend: Backend) -> object:
    """Run the SLA job once: lights, 督办 reminders, escalation (in the city in use: an import is picked up)."""
    backend.runtime.refresh_city()
    with backend.session_factory() as session:
        return run_sla_tick(session, backend.runtime)


def run_sla_tick(session: Session, runtime: Runtime) -> SlaTickSummary:
    """Check every ticket whose clock runs, in batches, committing each batch (it releases the batch's locks)."""
    summary = SlaTickSummary()
    last_id: int | None = 0
    while last_id is not None:
        last_id = check_next_batch(session, runtime, summary, after_id=last_id)
        if last_id is not None:
            session.commit()
    logger.info("SLA tick: %s", summary)
    return summary


def sweep_unowned(backend: Backend) -> int:
    """Put every report left without an owner (not dispatched, not on a desk) on the district desk."""
    with backend.session_factory() as session:
        swept = desk.sweep_unowned(session, backend.runtime)
        session.commit()
    if swept:
        logger.warning("sweep: %d report(s) had no owner; now on the district desk", swept)
    return swept


def escalate_alarms(backend: Backend) -> int:
    """Send every urgent alarm nobody acknowledged in time up a level."""
    with backend.session_factory() as session:
        climbed = alarms.escalate_unacknowledged(session, backend.runtime)
        session.commit()
    if climbed:
        logger.warning("alarms: %d urgent report(s) not acknowledged in time; sent up a level", climbed)
    return climbed


def compact_rollups(backend: Backend) -> int:
    """Fold the statistics rollups' delta rows into one row per key (the worker does it every minute)."""
    with backend.session_factory() as session:
        folded = compact(session)
        session.commit()
        return folded


def rebuild_rollups(settings: Settings) -> int:
    """Recompute the statistics rollups from the tickets (after a bulk load or a GRIDBOT_TIMEZONE change)."""
    with _session(settings) as session:
        rows = rebuild(session, timezone=settings.timezone)
        session.commit()
        return rows


def apply_retention(backend: Backend) -> dict[str, Any]:
    """Run the retention job once (anonymise finished tickets, delete old photos and transcripts); its counts."""
    settings = backend.runtime.settings
    policy = RetentionPolicy(
        ticket_days=settings.retention_ticket_days,
        photo_days=settings.retention_photo_days,
        transcript_days=settings.retention_transcript_days,
    )
    with backend.session_factory() as session:
        run = run_retention(
            session,
            policy,
            backend.runtime.clock.now(),
            upload_dir=settings.upload_dir,
            batch_size=settings.retention_batch_size,
        )
        return {"run": run.id, **run.counts}


def daily_digest_job(session_factory: sessionmaker[Session], timezone: str) -> Callable[[datetime], int]:
    """A callable for backend.workers.periodic.standard_jobs(digest=...): queue today's digests and commit."""

    def run(now: datetime) -> int:
        period = now.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d")
        with session_factory() as session:
            if digests_queued_for(session, period):
                return 0  # a rerun of the same day (e.g. after a crash) sends nothing twice
            queued = queue_digests(session, now, period)
            session.commit()
        return queued

    return run


def public_reports_job(backend: Backend) -> Callable[[datetime], int]:
    """A periodic job: queue this week's 向群众汇报 to every subscriber who has not had it, and commit."""

    def run(now: datetime) -> int:
        with backend.session_factory() as session:
            queued = queue_public_reports(session, backend.runtime, now)
            session.commit()
        return queued

    return run


def write_corrections(backend: Backend, path: Path) -> int:
    """Write the dispatchers' category corrections as a training CSV; the row count."""
    with backend.session_factory() as session:
        return export_corrections(session, path)


def run_outbox_worker(
    backend: Backend,
    senders: Mapping[str, Sender],
    *,
    worker_id: str,
    stop_event: threading.Event,
    fallback: Fallback | None = None,
) -> DrainResult:
    """Send outbox notifications and run the periodic jobs (SLA tick, digest, purges, retention) until stopped."""
    settings, factory = backend.runtime.settings, backend.session_factory
    timezone = settings.timezone

    def purge(now: datetime) -> object:
        with factory() as session:
            purged = {"inbound": purge_inbound(session, now), "nonces": purge_nonces(session, now)}
            session.commit()
            return purged

    jobs = standard_jobs(
        sla_tick_seconds=settings.sla_tick_seconds,
        digest_time=settings.digest_time,
        timezone=timezone,
        sla_tick=lambda _now: sla_tick(backend),
        digest=daily_digest_job(factory, timezone),
    )
    jobs.append(PeriodicJob("purge_inbound", every(3600), purge))
    jobs.append(PeriodicJob("compact_rollups", every(60), lambda _now: compact_rollups(backend)))
    jobs.append(PeriodicJob("sweep_unowned", every(15), lambda _now: sweep_unowned(backend)))
    jobs.append(PeriodicJob("escalate_alarms", every(15), lambda _now: escalate_alarms(backend)))
    jobs.append(PeriodicJob("desk_unanswered", every(30), lambda _now: desk_unanswered(backend)))
    jobs.append(
        PeriodicJob("public_reports", daily_at(settings.public_report_time, tz=timezone), public_reports_job(backend))
    )
    jobs.append(
        PeriodicJob(
            "retention",
            daily_at(settings.retention_time, tz=timezone),
            lambda _now: apply_retention(backend),
            lease_seconds=3600,
        )
    )
    return run_worker(
        factory,
        senders,
        worker_id=worker_id,
        stop_event=stop_event,
        jobs=jobs,
        config=OutboxConfig.from_settings(settings),
        fallback=fallback,
    )

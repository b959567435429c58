"""Retention over a large backlog: anonymise 100,000 finished tickets on PostgreSQL (and SQLite).

    python -m bench.retention [--n 100000] [--json] [--postgres-url URL]

The tickets (each with a submit and a close event holding the reporter's phone in a note, every tenth with
a rating comment) are written with one INSERT … SELECT each, then `run_retention` anonymises them in its
batches (GRIDBOT_RETENTION_BATCH_SIZE, default 5,000) and records the run. Target: under a minute.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import bindparam, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from backend.cityconfig import load_city_config
from backend.db.migrate import upgrade
from backend.db.models import Person
from backend.db.session import make_engine, make_session_factory
from backend.db.types import UTCDateTime
from backend.domain.privacy import RetentionPolicy
from backend.services.reference import sync_reference
from backend.services.retention import run_retention
from backend.settings import PROJECT_ROOT, Settings
from bench._report import report

PHONE = "13812345678"
NAME = "张晓明"
POLICY = RetentionPolicy(ticket_days=365, photo_days=180, transcript_days=30)
TARGET_SECONDS = 60.0
GRID = ("LC010101", "LC0101", "LC01")

_NUMBERS = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n) "
_TICKETS = text(
    _NUMBERS
    + "INSERT INTO tickets (number, channel, reporter_id, source, text, category_code, priority, location_text, "
    "lon, lat, area_code, grid_code, community_code, street_code, department_code, tier, status, light, "
    "reopen_count, rework_count, created_at, updated_at, resolved_at, closed_at, contact_withdrawn) "
    "SELECT :prefix || i, 'wechat', :reporter, 'resident', :body || i, 'garbage_piling', 'normal', :place, "
    "113.5895, 34.73925, :grid, :grid, :community, :street, 'urban_management', 'grid', 'closed', 'green', "
    "0, 0, :created, :closed, :closed, :closed, :no FROM n"
).bindparams(
    bindparam("created", type_=UTCDateTime()),
    bindparam("closed", type_=UTCDateTime()),
)
_EVENTS = text(
    "INSERT INTO ticket_events (ticket_id, at, actor_id, actor_role, action, from_status, to_status, note, data) "
    "SELECT id, :at, reporter_id, 'resident', :action, NULL, status, :note, '{}' FROM tickets "
    "WHERE number LIKE :pattern"
).bindparams(bindparam("at", type_=UTCDateTime()))
_RATINGS = text(
    "INSERT INTO ratings (ticket_id, person_id, score, comment, created_at) "
    "SELECT id, reporter_id, 'satisfied', :comment, :at FROM tickets WHERE number LIKE :pattern AND id % 10 = 0"
).bindparams(bindparam("at", type_=UTCDateTime()))


def seed_finished_tickets(session: Session, n: int, *, closed_at: datetime, prefix: str = "RT") -> int:
    """Write n closed tickets of one resident (their name and phone in the text, notes and ratings); their id."""
    person = Person(kind="resident", name=NAME, phone=PHONE)
    session.add(person)
    session.flush()
    created = closed_at - timedelta(hours=5)
    grid, community, street = GRID
    session.execute(
        _TICKETS,
        {
            "n": n,
            "prefix": prefix,
            "reporter": person.id,
            "body": f"我是{NAME}，电话{PHONE}，楼下垃圾没人清运 #",
            "place": "建设路123号",
            "grid": grid,
            "community": community,
            "street": street,
            "created": created,
            "closed": closed_at,
            "no": False,
        },
    )
    pattern = f"{prefix}%"
    session.execute(_EVENTS, {"at": created, "action": "submit", "note": f"请回电{PHONE}", "pattern": pattern})
    session.execute(_EVENTS, {"at": closed_at, "action": "close", "note": None, "pattern": pattern})
    session.execute(_RATINGS, {"comment": f"{NAME}很满意", "at": closed_at, "pattern": pattern})
    session.flush()
    return person.id


def run(url: str, n: int, upload_dir: Path) -> tuple[float, dict[str, int]]:
    """Seconds the retention run took over n finished tickets, and its counts."""
    upgrade(url)
    factory = make_session_factory(make_engine(url))
    now = datetime.now(UTC)
    with factory() as session:
        sync_reference(session, load_city_config(PROJECT_ROOT / "config"))
        seed_finished_tickets(session, n, closed_at=now - timedelta(days=400))
        session.commit()
    with factory() as session:
        start = time.perf_counter()
        done = run_retention(session, POLICY, now, upload_dir=upload_dir, batch_size=Settings().retention_batch_size)
        return time.perf_counter() - start, dict(done.counts)


def _postgres_bench_url(base: str) -> str:
    url = make_url(base)
    name = f"{url.database or 'gridbot'}_retention"
    with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--postgres-url", default=os.environ.get("GRIDBOT_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    if not args.postgres_url:
        parser.error("give --postgres-url (or GRIDBOT_TEST_POSTGRES_URL): a database of your own")
    with tempfile.TemporaryDirectory() as tmp:
        pg_s, pg_counts = run(_postgres_bench_url(args.postgres_url), args.n, Path(tmp))
        lite_s, lite_counts = run(f"sqlite:///{Path(tmp) / 'bench.db'}", args.n, Path(tmp))
    assert pg_counts["tickets_anonymised"] == lite_counts["tickets_anonymised"] == args.n
    figures = {"postgres_seconds": round(pg_s, 1), "sqlite_seconds": round(lite_s, 1), "tickets": args.n}
    rows = [
        (f"anonymise {args.n:,} finished tickets, PostgreSQL (s)", figures["postgres_seconds"], "< 60"),
        (f"anonymise {args.n:,} finished tickets, SQLite (s)", figures["sqlite_seconds"], "< 60"),
    ]
    report(
        "retention",
        f"Retention job over {args.n:,} finished tickets",
        rows,
        as_json=args.json,
        figures=figures,
        notes="Each ticket has a submit and a close event and every tenth a rating; one run of run_retention "
        "(batches of GRIDBOT_RETENTION_BATCH_SIZE, one commit each) clears text, place, pin, reporter, notes "
        "and rating comments and records a retention_runs row. Seeding is not timed.",
    )


if __name__ == "__main__":
    main()

"""Benchmark: the dashboard's queue query and statistics page on 1,000,000 tickets in PostgreSQL.

Loads the tickets (and ~250,000 ratings) with COPY into a database of its own, `gridbot_bench_dash`,
next to GRIDBOT_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test), migrated with
our Alembic migrations and loaded with the demo city and staff. Tickets spread over the last 365 days,
the demo city's grids and the seed corpus's categories and texts; 10 % are still open.

Then it times, through backend.services.queries.list_tickets (the code the dashboard runs):
the first page of several realistic queues (a street dispatcher's open tickets, a gridworker's grid,
a department's red lights, a category in a date range, a text search), and
backend.dashboard.stats.compute_statistics for a street dispatcher and for the whole district over
the last 30 days. `--reuse` keeps an already-loaded database.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg
from rich.progress import Progress
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from backend.cityconfig import CityConfig, load_city_config
from backend.dashboard.stats import OPEN, compute_statistics
from backend.db.migrate import upgrade
from backend.db.models import Staff, TicketRollup
from backend.db.rollups import rebuild
from backend.db.session import make_engine
from backend.services.hot_issues import MAX_TICKETS as HOT_MAX_TICKETS
from backend.services.hot_issues import hot_issues
from backend.services.people import staff_actor
from backend.services.queries import TicketFilter, list_tickets
from backend.services.reference import sync_reference, sync_staff
from backend.settings import PROJECT_ROOT
from bench._report import report

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
DB_NAME = "gridbot_bench_dash"
N_TICKETS = 1_000_000
QUEUE_TARGET_MS = 50.0
STATS_TARGET_MS = {"whole district": 200.0, "street dispatcher": 100.0}  # the issue's limit is 500 ms
YEAR_TARGET_MS = 1000.0
CHUNK = 50_000
# Indexes this benchmark suggests for the Alembic migration (the lead owns it); created only in the
# benchmark's own database, after the queue has been timed without them.
PROPOSED_INDEXES = {
    "ix_tickets_department_light_status": (
        "CREATE INDEX IF NOT EXISTS ix_tickets_department_light_status ON tickets (department_code, light, status)"
    ),
}
TICKET_COLS = (
    "id",
    "number",
    "channel",
    "source",
    "text",
    "category_code",
    "category_confidence",
    "priority",
    "area_code",
    "grid_code",
    "community_code",
    "street_code",
    "department_code",
    "tier",
    "assignee_id",
    "status",
    "light",
    "due_at",
    "escalated_at",
    "reopen_count",
    "created_at",
    "updated_at",
    "resolved_at",
    "closed_at",
)
CLOSED_PATH = ("closed",) * 80 + ("verified",) * 3 + ("resolved",) * 3 + ("cancelled",) * 3 + ("merged",)
OPEN_PATH = (
    "dispatched",
    "dispatched",
    "accepted",
    "in_progress",
    "in_progress",
    "extension_requested",
    "returned",
    "submitted",
    "suspended",
)


def bench_database(reuse: bool, name: str = DB_NAME) -> str:
    """Create (or recreate) and migrate the benchmark database; return its URL."""
    url = make_url(os.environ.get("GRIDBOT_TEST_POSTGRES_URL") or DEFAULT_URL)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and not reuse:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    bench_url = url.set(database=name).render_as_string(hide_password=False)
    upgrade(bench_url)
    return bench_url


def _texts() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted((PROJECT_ROOT / "config" / "seed_corpus").glob("*.csv")):
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                clean = row["text"].replace("\t", " ").replace("\n", " ").replace("\\", "")
                out.setdefault(row["label"], []).append(clean[:300])
    return out


def _ts(value: datetime | None) -> str:
    return r"\N" if value is None else value.isoformat()


def load(url: str, city: CityConfig, n: int) -> float:
    """Load n tickets and their ratings with COPY; return the seconds it took."""
    rng = random.Random(20261122)
    texts = _texts()
    subs = [s for s in city.subcategories.values() if s.code in texts]
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(subs))]
    grids = [a for a in city.areas.values() if a.level in ("grid", "special")]
    grid_weights = [3.0 if a.level == "grid" else 1.0 for a in grids]
    where = {g.code: (city.ancestor_at(g.code, "community"), city.ancestor_at(g.code, "street")) for g in grids}
    pg_url = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(pg_url) as conn:
        staff_of = {
            scope: sid
            for sid, scope in conn.execute("SELECT id, scope_code FROM staff WHERE role = 'gridworker'").fetchall()
        }
    now = datetime.now(UTC).replace(microsecond=0)
    first = now - timedelta(days=365)
    # Ids grow with time, as they do when tickets arrive one by one.
    offsets = sorted(rng.randrange(365 * 86400) for _ in range(n))
    sub_cum = list(itertools.accumulate(weights))
    grid_cum = list(itertools.accumulate(grid_weights))
    start = time.perf_counter()
    rating_rows: list[str] = []
    with psycopg.connect(pg_url) as conn, Progress() as progress:
        task = progress.add_task("COPY tickets", total=n)
        # The generated rows are consistent by construction: skip the per-row foreign-key triggers.
        conn.execute("SET session_replication_role = replica")
        with conn.cursor().copy(f"COPY tickets ({', '.join(TICKET_COLS)}) FROM STDIN") as copy:
            for base in range(0, n, CHUNK):
                lines = []
                for i in range(base + 1, min(base + CHUNK, n) + 1):
                    sub = rng.choices(subs, cum_weights=sub_cum)[0]
                    grid = rng.choices(grids, cum_weights=grid_cum)[0]
                    community, street = where[grid.code]
                    created = first + timedelta(seconds=offsets[i - 1])
                    urgent = rng.random() < 0.05
                    due = created + timedelta(hours=(sub.hours_urgent if urgent else sub.hours_normal) * 2)
                    is_open = rng.random() < 0.10 and created > now - timedelta(days=60)
                    status = rng.choice(OPEN_PATH) if is_open else rng.choice(CLOSED_PATH)
                    resolved = closed = None
                    if status in ("resolved", "verified", "closed"):
                        resolved = created + timedelta(hours=rng.expovariate(1 / (sub.hours_normal * 1.5)))
                        closed = resolved + timedelta(hours=rng.uniform(1, 48)) if status == "closed" else None
                    light = "green"
                    if is_open:
                        light = "red" if due < now else rng.choice(("green", "green", "green", "yellow"))
                    escalated = created + timedelta(hours=2) if rng.random() < 0.04 else None
                    reopen = 1 if resolved and rng.random() < 0.03 else 0
                    text = rng.choice(texts[sub.code])
                    row = (
                        str(i),
                        f"GB{created:%Y%m%d}-{i:07d}",
                        "wechat",
                        "resident",
                        text,
                        sub.code,
                        f"{rng.uniform(0.5, 1):.3f}",
                        "urgent" if urgent else "normal",
                        grid.code,
                        grid.code,
                        community or r"\N",
                        street or r"\N",
                        sub.department,
                        sub.tier,
                        str(staff_of[grid.code]) if grid.code in staff_of else r"\N",
                        status,
                        light,
                        _ts(due),
                        _ts(escalated),
                        str(reopen),
                        _ts(created),
                        _ts(closed or resolved or created),
                        _ts(resolved),
                        _ts(closed),
                    )
                    lines.append("\t".join(row))
                    if status == "closed" and rng.random() < 0.3:
                        score = rng.choices(("satisfied", "basically_satisfied", "dissatisfied"), (75, 15, 10))[0]
                        rating_rows.append(f"{len(rating_rows) + 1}\t{i}\t{score}\t{_ts(closed)}")
                copy.write("\n".join(lines) + "\n")
                progress.advance(task, len(lines))
        # ratings.score is VARCHAR(16) in migration 0001, too short for "basically_satisfied" (19):
        # reported to the lead; widened here so the benchmark data can hold every real score.
        conn.execute("ALTER TABLE ratings ALTER COLUMN score TYPE VARCHAR(32)")
        with conn.cursor().copy("COPY ratings (id, ticket_id, score, created_at) FROM STDIN") as copy:
            copy.write("\n".join(rating_rows) + "\n")
        conn.execute("SELECT setval('tickets_id_seq', %s)", (n,))
        conn.execute("SELECT setval('ratings_id_seq', %s)", (len(rating_rows),))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE tickets")
        conn.execute("VACUUM ANALYZE ratings")
    return time.perf_counter() - start


def _timed(fn, runs: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(round(0.95 * len(values))) - 1)]


def main() -> None:
    """Load, then time the queue and the statistics page."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="keep an already-loaded database")
    parser.add_argument("--tickets", type=int, default=N_TICKETS)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument(
        "--database", default=DB_NAME, help="the benchmark's own database (created beside the test one)"
    )
    args = parser.parse_args()

    from backend.runtime import build_runtime
    from backend.settings import Settings

    city = load_city_config(PROJECT_ROOT / "config")
    url = bench_database(args.reuse, args.database)
    engine = make_engine(url)
    with Session(engine) as session:
        sync_reference(session, city)
        sync_staff(session, city, demo_password=None)
        session.commit()
        have = session.execute(select(Staff.id).limit(1)).first() is not None
    assert have
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        loaded = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]  # type: ignore[index]
    load_s = None
    if loaded != args.tickets:
        if loaded:
            raise SystemExit(f"{args.database} holds {loaded} tickets; run without --reuse to reload")
        load_s = load(url, city, args.tickets)

    runtime = build_runtime(Settings(env="test", database_url=url), load_classifier=False)
    now = datetime.now(UTC)
    month = now - timedelta(days=30)
    with Session(engine) as session:

        def actor(code: str):  # type: ignore[no-untyped-def]
            return staff_actor(session.scalars(select(Staff).where(Staff.code == code)).one())

        street, gridworker, dept = actor("SD01"), actor("GW001"), actor("DH12")
        admin = actor("ADM01")
        queues = {
            "street dispatcher, open tickets": (street, TicketFilter(status=OPEN)),
            "community dispatcher, open tickets": (actor("CD01"), TicketFilter(status=OPEN)),
            "grid leader, own community, all": (actor("GL01"), TicketFilter()),
            "supervisor, red lights": (actor("SUP01"), TicketFilter(status=OPEN, light=["red"])),
            "gridworker, own grid, all": (gridworker, TicketFilter()),
            "department, red lights": (dept, TicketFilter(status=OPEN, light=["red"])),
            "admin, category + 30 days": (admin, TicketFilter(category="city_appearance", created_from=month)),
            "admin, grid + status closed": (admin, TicketFilter(grid="LC020101", status=["closed"])),
            "street, text search 垃圾": (street, TicketFilter(q="垃圾", created_from=month)),
        }
        rows: list[tuple[str, object, str]] = []
        figures: dict[str, object] = {"tickets": args.tickets, "load_seconds": load_s}
        pg = url.replace("postgresql+psycopg://", "postgresql://")
        for variant in ("migration", "proposed"):
            with psycopg.connect(pg, autocommit=True) as conn:
                for name, sql in PROPOSED_INDEXES.items():
                    conn.execute(sql if variant == "proposed" else f"DROP INDEX IF EXISTS {name}")
                conn.execute("ANALYZE tickets")
            session.rollback()
            worst = 0.0
            for label, (who, flt) in queues.items():
                list_tickets(session, who, flt)  # warm the cache and the plan
                times = _timed(lambda w=who, f=flt: list_tickets(session, w, f, limit=50), args.runs)
                p95 = _p95(times)
                worst = max(worst, p95)
                suffix = "" if variant == "migration" else " (+ proposed indexes)"
                rows.append((f"queue p95 ms: {label}{suffix}", p95, f"< {QUEUE_TARGET_MS:.0f}"))
                figures[f"queue_p95_ms[{label}]{suffix}"] = round(p95, 2)
            figures[f"queue_p95_ms_worst[{variant}]"] = round(worst, 2)
        rollup_s = None
        if load_s is not None or not session.scalar(select(TicketRollup.id).limit(1)):
            t0 = time.perf_counter()
            rebuild(session)
            session.commit()
            rollup_s = time.perf_counter() - t0
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE ticket_rollups")
            conn.execute("VACUUM ANALYZE category_rollups")
            rollup_rows = conn.execute("SELECT count(*) FROM ticket_rollups").fetchone()[0]  # type: ignore[index]
        figures["rollup_rows"] = rollup_rows
        for label, who in (("street dispatcher", street), ("whole district", admin)):
            flt = TicketFilter(created_from=month)
            for rolled in (True, False):
                compute_statistics(session, runtime, who, flt, use_rollups=rolled)
                times = _timed(
                    lambda w=who, f=flt, r=rolled: compute_statistics(session, runtime, w, f, use_rollups=r), 5
                )
                med = statistics.median(times)
                how = "rollups" if rolled else "tickets only"
                target = f"< {STATS_TARGET_MS[label]:.0f}" if rolled else "(comparison)"
                rows.append((f"statistics ms (30 days): {label}, {how}", med, target))
                figures[f"stats_ms[{label}, {how}]"] = round(med, 1)
        month_filter = TicketFilter(created_from=month)
        for label, who in (("street dispatcher", street), ("whole district", admin)):
            first = _timed(lambda w=who: hot_issues(session, runtime, w, month_filter), 1)[0]
            again = statistics.median(_timed(lambda w=who: hot_issues(session, runtime, w, month_filter), 3))
            rows.append(
                (
                    f"hot issues ms (30 days, newest {HOT_MAX_TICKETS:,} tickets): {label}, first / again",
                    f"{first:,.0f} / {again:,.0f}",
                    "(loaded after the page)",
                )
            )
            figures[f"hot_issues_ms[{label}]"] = [round(first, 1), round(again, 1)]
        year = TicketFilter(created_from=now - timedelta(days=365))
        for label, who in (("street dispatcher", street), ("whole district", admin)):
            for rolled in (True, False):
                times = _timed(lambda w=who, r=rolled: compute_statistics(session, runtime, w, year, use_rollups=r), 3)
                how = "rollups" if rolled else "tickets only"
                target = f"< {YEAR_TARGET_MS:.0f}" if rolled else "(comparison)"
                rows.append((f"statistics ms (365 days): {label}, {how}", statistics.median(times), target))
                figures[f"stats_ms[{label}, 365 days, {how}]"] = round(statistics.median(times), 1)
    if rollup_s is not None:
        rows.insert(0, (f"statistics rollups rebuilt from the tickets ({rollup_rows:,} rows), s", rollup_s, ""))
    if load_s is not None:
        rows.insert(0, ("load 1M tickets + ratings (COPY), s", load_s, ""))
    report(
        "dashboard",
        f"Dashboard on {args.tickets:,} tickets (PostgreSQL)",
        rows,
        as_json=args.json,
        figures=figures,
        notes="Queue: first page of 50 through backend.services.queries.list_tickets, "
        f"{args.runs} runs each, p95; timed with the migration's indexes, then again with "
        f"{', '.join(PROPOSED_INDEXES)}. Statistics: backend.dashboard.stats.compute_statistics, median of 5 runs "
        "(365 days: 3), from 30 days (or 365) before now: whole local days from the statistics rollups "
        "(backend/db/rollups.py, per day, area, department and status; kept current on every flush), the partial "
        "first day, the median handling time and the hot phrases of the newest 500 texts from the tickets (the "
        "median an index-only scan of the partial index ix_tickets_done_created_at, which covers the scope columns, "
        "the desk's too since migration 0009; a text's content words are cached, so runs after the first count "
        "mostly cached texts, as a dashboard refreshed through the day does); "
        "'tickets only' is use_rollups=False, the grouping-sets queries over every ticket of the period (the "
        "statistics code before the rollups). "
        "Data: tickets over 365 days in arrival order, 10 % of the last 60 days still open; the rollups rebuilt "
        "after the COPY (rebuild), as `gridbot rebuild-rollups` does. Hot issues "
        "(backend.services.hot_issues, the statistics page's table, fetched by the page after its figures): the "
        "first call in the process, then the median of 3 more (the keywords of a text are cached).",
    )
    engine.dispose()


if __name__ == "__main__":
    main()

"""Ticket throughput: create and dispatch tickets through the service layer, on SQLite and PostgreSQL.

    python -m bench.tickets [--n 2000] [--json] [--postgres-url URL]

Each ticket goes through the real intake: classification by the shipped model, urgency check, grid
lookup from a pin, routing, numbering, the dispatch transition, its audit events and outbox rows, and a
commit of its own — the same path a chat report takes.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import psycopg
from rich.progress import Progress
from shapely.geometry import Point
from sqlalchemy.orm import Session

from backend.db.migrate import upgrade
from backend.db.session import make_engine, make_session_factory
from backend.runtime import Runtime, build_runtime
from backend.services.intake import ReportIn, create_ticket
from backend.services.people import resident_for
from backend.services.reference import sync_reference, sync_staff
from backend.settings import Settings
from bench._report import report

TEXTS = [
    "小区门口垃圾堆了好几天没人清运",
    "楼下路灯坏了一个星期了晚上很黑",
    "井盖松动了踩上去哐哐响很危险",
    "隔壁工地晚上十一点还在施工吵得睡不着",
    "公交站台的座椅坏了老人没地方坐",
    "小区电梯又停了老人上不了楼",
]
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DB = "gridbot_bench_tickets"


def _postgres_bench_url(base: str) -> str:
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    return base.rsplit("/", 1)[0] + f"/{BENCH_DB}"


def run(url: str, n: int, progress: Progress, label: str) -> float:
    """Tickets per second created and dispatched through submit_report on one database."""
    upgrade(url)
    settings = Settings(env="test", database_url=url)
    runtime = build_runtime(settings)
    factory = make_session_factory(make_engine(url))
    with factory() as session:
        sync_reference(session, runtime.city)
        sync_staff(session, runtime.city, demo_password=None)
        session.commit()
    grids = [a for a in runtime.city.areas.values() if a.level == "grid"]
    rng = random.Random(7)
    points = [grids[rng.randrange(len(grids))].geometry.representative_point() for _ in range(n)]
    with factory() as session:
        people = [resident_for(session, channel="wechat", external_id=f"bench{i}").id for i in range(50)]
        session.commit()
    task = progress.add_task(f"{label}: {n} tickets", total=n)
    start = time.perf_counter()
    for i in range(n):
        with factory() as session:
            _submit(session, runtime, TEXTS[i % len(TEXTS)], points[i], people[i % len(people)])
        progress.advance(task)
    return n / (time.perf_counter() - start)


def _submit(session: Session, runtime: Runtime, text: str, point: Point, person: int) -> None:
    create_ticket(session, runtime, ReportIn(text=text, channel="wechat", reporter_id=person, lon=point.x, lat=point.y))
    session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--postgres-url", default=os.environ.get("GRIDBOT_TEST_POSTGRES_URL", DEFAULT_PG))
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with Progress(transient=True, disable=args.json) as progress, tempfile.TemporaryDirectory() as tmp:
        figures["sqlite_tickets_per_s"] = run(f"sqlite:///{Path(tmp) / 'bench.db'}", args.n, progress, "SQLite")
        figures["postgres_tickets_per_s"] = run(_postgres_bench_url(args.postgres_url), args.n, progress, "PostgreSQL")
    rows = [
        ("create + dispatch, SQLite (tickets/s)", figures["sqlite_tickets_per_s"], "—"),
        ("create + dispatch, PostgreSQL (tickets/s)", figures["postgres_tickets_per_s"], "—"),
    ]
    report(
        "tickets",
        "Ticket throughput through the service layer",
        rows,
        as_json=args.json,
        figures=figures,
        notes=f"{args.n} tickets per database, one transaction each (classify, locate, route, number, "
        "dispatch, audit, outbox), one process.",
    )


if __name__ == "__main__":
    main()

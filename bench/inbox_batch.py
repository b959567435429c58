"""Engine cost per report in an inbox batch: one processor turns a claimed batch of 100 stored WeChat reports,
its texts classified in one call (Chatbot.analysing) or report by report, on SQLite and PostgreSQL.

    python -m bench.inbox_batch [--batch 100] [--rounds 9] [--json] [--postgres-url URL]

CPU is this process's (time.process_time: the engine, SQLAlchemy, the driver); PostgreSQL's own server CPU
is not in it. Each round stores `batch` first reports of new residents (a place named in the text) and runs
one `process_once`; the figure is the median round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.db.migrate import upgrade
from backend.db.models import Ticket
from backend.db.session import make_engine, make_session_factory
from backend.domain.tickets import OPEN_STATUSES
from backend.runtime import Runtime, build_runtime
from backend.services.reference import sync_reference, sync_staff
from backend.settings import Settings
from bench._report import report
from bench.webhook import REPORTS
from bot.app import settle_heap
from bot.chatbot import Chatbot, ReplyRoute
from bot.inbox import InboxProcessor, ProcessorConfig, store_inbound
from bot.messages import Inbound, InboundKind, Outbound

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DB = "gridbot_bench_inbox"
# Problems told without their place: each is reported in ten grids, so a batch of 100 repeats no open ticket.
PROBLEMS = [
    "门口的垃圾好几天没人清运了，臭得不行",
    "3号楼楼道的灯坏了一个星期了",
    "旁边路上有个井盖丢了，晚上很危险",
    "小区里有人私搭乱建，占了消防通道",
    "门口有人占道经营，堵得走不动",
    "的下水道堵了，污水漫到路上",
    "楼下的路灯不亮了",
    "小区里有辆僵尸车停了半年了",
    "门口的人行道砖松动了好几块",
    "楼顶的广告牌摇摇欲坠",
]


class OneByOne:
    """The chatbot without batches: each turn classifies its own text and commits on its own."""

    def __init__(self, chat: Chatbot) -> None:
        self.chat = chat

    def analysing(self, inbounds: Sequence[Inbound]) -> AbstractContextManager[None]:
        return nullcontext()

    def handle_batch(
        self,
        turns: Sequence[tuple[Inbound, ReplyRoute]],
        *,
        before_commit: Callable[[Session, list[bool]], None],
        before_turns: Callable[[Session], None] | None = None,
    ) -> list[list[Outbound] | None]:
        replies: list[list[Outbound] | None] = []
        for n, turn in enumerate(turns):

            def mark(session: Session, stored: list[bool], n: int = n) -> None:
                before_commit(session, [False] * n + stored + [False] * (len(turns) - n - 1))

            replies += self.chat.handle_batch([turn], before_commit=mark, before_turns=before_turns)
        return replies


def _postgres_url(base: str) -> str:
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    return base.rsplit("/", 1)[0] + f"/{BENCH_DB}"


def run(url: str, runtime: Runtime, batch: int, rounds: int) -> dict[str, float]:
    """Median CPU and wall ms per report, batched and one by one, on one database; and batched again with
    reports of new problems (most become tickets), with the median number of tickets a batch made."""
    upgrade(url)
    factory = make_session_factory(make_engine(url))
    with factory() as session:
        sync_reference(session, runtime.city)
        sync_staff(session, runtime.city, demo_password=None)
        session.commit()
    chat = Chatbot(runtime, factory)
    settle_heap()  # as `gridbot process` does once it has loaded the model and the city
    out: dict[str, float] = {}
    serial = 0
    new_problems = _new_problems(runtime, batch)
    modes: list[tuple[str, Any, list[str]]] = [
        ("batched", chat, REPORTS),
        ("one_by_one", OneByOne(chat), REPORTS),
        ("new_problems", chat, new_problems),
    ]
    for mode, engine, texts in modes:
        cpu, wall, made = [], [], []
        for _ in range(rounds + 1):  # the first round warms caches up and is not counted
            if mode == "new_problems":
                _close_open_tickets(factory)  # last round's tickets would be repeats
            tickets_before = _count_tickets(factory)
            for _n in range(batch):
                serial += 1
                store_inbound(
                    factory,
                    Inbound(
                        channel="wechat",
                        user_id=f"obatch{serial}",
                        kind=InboundKind.text,
                        text=texts[serial % len(texts)],
                        message_id=f"m{serial}",
                    ),
                )
            processor = InboxProcessor(factory, engine, worker_id=mode, config=ProcessorConfig(batch_size=batch))
            c0, w0 = time.process_time(), time.perf_counter()
            assert processor.process_once() == batch
            cpu.append((time.process_time() - c0) * 1000 / batch)
            wall.append((time.perf_counter() - w0) * 1000 / batch)
            made.append(_count_tickets(factory) - tickets_before)
        out[f"{mode}_cpu_ms"] = statistics.median(cpu[1:])
        out[f"{mode}_wall_ms"] = statistics.median(wall[1:])
        out[f"{mode}_tickets"] = statistics.median(made[1:])
    return out


def _new_problems(runtime: Runtime, batch: int) -> list[str]:
    """`batch` reports, each problem in a grid of its own (named by the grid's first place name)."""
    grids = [area for area in runtime.city.areas.values() if area.level == "grid" and area.aliases]
    places = [grid.aliases[0].name for grid in grids[: -(-batch // len(PROBLEMS))]]
    return [place + problem for place in places for problem in PROBLEMS][:batch]


def _close_open_tickets(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        still_open = Ticket.status.in_([status.value for status in OPEN_STATUSES])
        session.execute(update(Ticket).where(still_open).values(status="closed"))
        session.commit()


def _count_tickets(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count(Ticket.id))) or 0


def classifier_only(runtime: Runtime, batch: int) -> dict[str, float]:
    """CPU ms per text of the shipped classifier: predict one by one, and predict_many over the batch."""
    classifier: Any = runtime.current_classifier()
    texts = [REPORTS[i % len(REPORTS)] + f" {i}" for i in range(batch)]
    classifier.predict_many(texts)
    c0 = time.process_time()
    for text in texts:
        classifier.predict(text)
    single = (time.process_time() - c0) * 1000 / batch
    c0 = time.process_time()
    for _ in range(10):
        classifier.predict_many(texts)
    many = (time.process_time() - c0) * 1000 / batch / 10
    return {"classify_single_cpu_ms": single, "classify_batch_cpu_ms": many}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--postgres-url", default=os.environ.get("GRIDBOT_TEST_POSTGRES_URL", DEFAULT_PG))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runtime = build_runtime(Settings(env="test", database_url=f"sqlite:///{Path(tmp) / 'b.db'}"))
        figures: dict[str, float] = classifier_only(runtime, args.batch)
        for label, url in (
            ("sqlite", f"sqlite:///{Path(tmp) / 'b.db'}"),
            ("postgresql", _postgres_url(args.postgres_url)),
        ):
            for key, value in run(url, runtime, args.batch, args.rounds).items():
                figures[f"{label}_{key}"] = value
    target = "≤ 1 ms CPU"
    rows: list[tuple[str, Any, str]] = [
        ("classifier alone, one text per call (CPU ms/text)", figures["classify_single_cpu_ms"], ""),
        (f"classifier alone, {args.batch} texts per call (CPU ms/text)", figures["classify_batch_cpu_ms"], ""),
    ]
    for label in ("sqlite", "postgresql"):
        rows += [
            (f"{label}: engine CPU ms/report, batch (one transaction)", figures[f"{label}_batched_cpu_ms"], target),
            (f"{label}: engine CPU ms/report, one by one", figures[f"{label}_one_by_one_cpu_ms"], target),
            (f"{label}: wall ms/report, batch (one transaction)", figures[f"{label}_batched_wall_ms"], ""),
            (f"{label}: wall ms/report, one by one", figures[f"{label}_one_by_one_wall_ms"], ""),
            (
                f"{label}: engine CPU / wall ms/report, batch of new problems (tickets made of {args.batch})",
                f"{figures[f'{label}_new_problems_cpu_ms']:.3f} / {figures[f'{label}_new_problems_wall_ms']:.3f} "
                f"({figures[f'{label}_new_problems_tickets']:.0f})",
                target,
            ),
        ]
    report(
        "inbox_batch",
        f"Inbox processor: engine cost per report in a batch of {args.batch}",
        rows,
        as_json=args.json,
        figures=figures,
        notes=f"One processor, one `process_once` over {args.batch} stored first reports of new WeChat residents "
        "(each a full turn: resident record, assessment, duplicate check, dialogue state, replies to the outbox; "
        "an urgent report becomes a ticket at once, with its routing, alarm, audit and notices; the others get a "
        "question back, most of them whether to follow the open ticket their words repeat). 'Batch' is what "
        "`gridbot process` does: the texts classified in one call and the turns in one transaction (the inbox rows "
        "marked done in the same commit); 'one by one' "
        "classifies each text in its turn and commits each turn on its own, as the processor does when a batch "
        "cannot run whole. The one-by-one rounds run after the batched ones, on a larger database. 'New "
        "problems' batches again, last, with reports that repeat no open ticket (ten problems, each in ten grids "
        "named by place; the tickets of the round before are closed first, untimed): a report the router is sure "
        "of becomes a ticket at once, in the turn (number, routing, audit, notices), the others ask their "
        "category. "
        f"Median of {args.rounds} rounds after a warm-up round. CPU is the processor process's only "
        "(time.process_time), not the PostgreSQL server's.",
        command="python -m bench.inbox_batch",
    )


if __name__ == "__main__":
    main()

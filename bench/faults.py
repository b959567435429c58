"""Fault injection under resident load, on PostgreSQL: does the service keep every report and every message?

Residents report problems through the WeChat and Telegram webhooks of the real app (uvicorn, bot.app) while
one `gridbot worker` sends the outbox to fake WeChat and Telegram APIs. Meanwhile, with gaps in between:
PostgreSQL is restarted, the API is killed with SIGKILL and started again, so is the worker, and the fake
platforms go down for `--outage` seconds. Afterwards the worker drains and the run checks, from the database
and from what the residents were told: every ticket number a resident was told exists; no report became two
tickets; every webhook delivery answered 200 left its effect; every outbox row was delivered or dead-lettered
with a reason. Exit status 1 if a ticket is lost, a duplicate exists, an acknowledged message left no effect
or a notification is stuck.

    python -m bench.faults [--duration 600] [--outage 60] [--residents 30] [--skip pg,api,worker,platform] [--json]

PostgreSQL: the server of GRIDBOT_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432) or --pg;
the run re-creates its own database `gridbot_faults` there and restarts that server's local cluster with
pg_ctlcluster (run as root).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench._fault_env import (
    FaultyTelegram,
    FaultyWeChat,
    Service,
    api_service,
    free_port,
    pg_cluster,
    restart_postgres,
    service_env,
    wait_healthy,
    wait_port_free,
    worker_service,
)
from bench._fault_residents import Book, Load
from bench._report import RELIABILITY_MD, report
from bench.webhook import prepare_database

FAULTS = ("pg", "api", "worker", "platform")
DB_NAME = "gridbot_faults"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432"


@dataclass
class Fault:
    """One injected fault: when (seconds after the load started), how long it took, what happened."""

    name: str
    at: float
    took: float
    detail: str
    error: str | None = None


@dataclass
class World:
    """The running pieces a fault acts on."""

    base: str
    port: int
    api: Service
    worker: Service
    wechat: FaultyWeChat
    telegram: FaultyTelegram
    pg: tuple[str, str]
    outage: float
    platforms: tuple[str, ...]


async def inject(name: str, world: World) -> tuple[float, str]:
    """Inject one fault and wait until it is over; (seconds it took, what happened)."""
    started = time.monotonic()
    if name == "pg":
        version, cluster = world.pg
        await asyncio.to_thread(restart_postgres, version, cluster)
        return time.monotonic() - started, f"pg_ctlcluster {version} {cluster} restart"
    if name == "api":
        await asyncio.to_thread(world.api.kill)
        await asyncio.to_thread(wait_port_free, world.port)
        world.api.start()
        await asyncio.to_thread(wait_healthy, world.base, world.api)
        return time.monotonic() - started, "kill -9 of every uvicorn process, restarted; time = until /health 200"
    if name == "worker":
        await asyncio.to_thread(world.worker.kill)
        world.worker.start()
        resumed = await next_delivery([world.wechat, world.telegram])
        return time.monotonic() - started, f"kill -9 of the worker, restarted; next message out after {resumed}"
    by_name: dict[str, FaultyWeChat | FaultyTelegram] = {"wechat": world.wechat, "telegram": world.telegram}
    fakes = [by_name[p] for p in world.platforms]
    for fake in fakes:
        fake.take_down()
    await asyncio.sleep(world.outage)
    for fake in fakes:
        fake.bring_up()
    resumed = await next_delivery(fakes)
    return (
        time.monotonic() - started,
        f"fake {' and '.join(world.platforms)} API down (refused / 502); next message in after {resumed}",
    )


async def next_delivery(fakes: list[FaultyWeChat | FaultyTelegram], timeout: float = 120.0) -> str:
    """How long until one of the fakes takes its next message from the worker (as text for the table)."""

    def sends(fake: FaultyWeChat | FaultyTelegram) -> int:
        return sum(1 for c in list(fake.delivered) if c.path.endswith(("/sendMessage", "/send")))

    started = time.monotonic()
    counts = [sends(f) for f in fakes]
    while time.monotonic() - started < timeout:
        if any(sends(f) > n for f, n in zip(fakes, counts, strict=True)):
            return f"{time.monotonic() - started:.1f}s"
        await asyncio.sleep(0.2)
    return f"more than {timeout:.0f}s"


async def drive(world: World, load: Load, faults: list[str], duration: float, finish_within: float) -> list[Fault]:
    """Run the load for `duration` seconds with the faults spread evenly over it, then stop the load."""
    stop = asyncio.Event()
    loading = asyncio.create_task(load.run(stop, finish_within))
    outage = world.outage * faults.count("platform")
    gap = max(1.0, (duration - outage) / (len(faults) + 1))
    t0 = time.monotonic()
    done: list[Fault] = []
    for i, name in enumerate(faults):
        await asyncio.sleep(
            max(0.0, t0 + gap * (i + 1) + sum(f.took for f in done if f.name == "platform") - time.monotonic())
        )
        at = time.monotonic() - t0
        print(f"[{at:6.1f}s] fault: {name}", flush=True)
        try:
            took, detail = await inject(name, world)
            done.append(Fault(name, at, took, detail))
        except Exception as exc:  # a fault that could not be injected is reported, the run goes on
            done.append(Fault(name, at, time.monotonic() - t0 - at, "failed", f"{type(exc).__name__}: {exc}"))
        print(
            f"[{time.monotonic() - t0:6.1f}s] fault {name} over: {done[-1].detail} {done[-1].error or ''}", flush=True
        )
    await asyncio.sleep(max(0.0, t0 + duration - time.monotonic()))
    print(f"[{time.monotonic() - t0:6.1f}s] load stops; dialogues in progress get {finish_within:.0f}s", flush=True)
    stop.set()
    await loading
    return done


def wait_drained(url: str, timeout: float) -> float:
    """Seconds until no notification is pending (bounded by timeout)."""
    from sqlalchemy import func

    from backend.db.models import Notification
    from backend.db.session import make_engine

    engine = make_engine(url)
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            with Session(engine) as s:
                if not s.scalar(select(func.count()).where(Notification.status == "pending")):
                    break
            time.sleep(2)
    finally:
        engine.dispose()
    return time.monotonic() - started


def check(url: str, book: Book) -> dict[str, Any]:
    """Compare the bookkeeping with the database."""
    from backend.db.models import ChannelIdentity, InboundMessage, Notification, Ticket
    from backend.db.session import make_engine
    from backend.workers.outbox import repeat_report

    engine = make_engine(url)
    with Session(engine) as s:
        tickets = {
            n: (reporter, text, status)
            for n, reporter, text, status in s.execute(
                select(Ticket.number, Ticket.reporter_id, Ticket.text, Ticket.status)
            )
        }
        person = {
            (c, e): p
            for c, e, p in s.execute(
                select(ChannelIdentity.channel, ChannelIdentity.external_id, ChannelIdentity.person_id)
            )
        }
        inbound = {
            (c, k): reply is not None
            for c, k, reply in s.execute(
                select(InboundMessage.channel, InboundMessage.message_key, InboundMessage.reply)
            )
        }
        rows = s.execute(
            select(
                Notification.id,
                Notification.key,
                Notification.kind,
                Notification.channel,
                Notification.status,
                Notification.attempts,
                Notification.last_error,
                Notification.next_attempt_at,
                Notification.lease_until,
            )
        ).all()
        repeats = repeat_report(s)
    engine.dispose()
    keys = {r.key for r in rows}
    lost = sorted(n for n in book.told if n not in tickets)
    by_reporter: dict[int, list[str]] = {}
    for number, (reporter, _, _) in tickets.items():
        if reporter is not None:
            by_reporter.setdefault(reporter, []).append(number)
    ours = {person[(r.channel, r.user)]: r for r in book.residents if (r.channel, r.user) in person}
    # A resident reports one problem: more than one ticket not merged by the resident's own choice is a
    # duplicate; the service's fault unless the resident wrote again after a failed delivery or an apology.
    extra = {
        ours[p].n: sorted(numbers)
        for p, numbers in by_reporter.items()
        if p in ours and sum(tickets[n][2] != "merged" for n in numbers) > 1
    }
    duplicates = {n: numbers for n, numbers in extra.items() if not book.residents[n].resends}
    resent_twice = {n: numbers for n, numbers in extra.items() if book.residents[n].resends}
    same_text = Counter((reporter, text) for reporter, text, _ in tickets.values() if reporter in ours)
    no_effect = []
    for sent in book.sent:
        if not sent.acked or sent.error_reply:
            continue
        reason = None
        if not inbound.get((sent.channel, sent.key)):
            reason = "no stored turn" if (sent.channel, sent.key) not in inbound else "turn without reply"
        elif sent.channel == "telegram" and f"telegram:reply:{sent.key}" not in keys:
            reason = "no reply queued"
        if reason:
            no_effect.append({"channel": sent.channel, "key": sent.key, "resident": sent.resident, "why": reason})
    status = Counter(r.status for r in rows)
    stuck = [
        {
            "id": r.id,
            "kind": r.kind,
            "channel": r.channel,
            "attempts": r.attempts,
            "last_error": r.last_error,
            "next_attempt_at": str(r.next_attempt_at),
            "lease_until": str(r.lease_until),
        }
        for r in rows
        if r.status == "pending"
    ]
    dead_no_reason = [r.id for r in rows if r.status == "dead" and not (r.last_error or "").strip()]
    reporters = {p for p in by_reporter if p in ours}
    return {
        "tickets_told": len(book.told),
        "tickets_found": len(book.told) - len(lost),
        "lost": lost,
        "resident_tickets": sum(len(by_reporter.get(p, [])) for p in ours),
        "residents_with_ticket": len(reporters),
        "untold_tickets": sum(1 for p in reporters for n in by_reporter[p] if n not in book.told),
        "duplicates": duplicates,
        "reported_twice_after_resend": resent_twice,
        "same_text_repeats": sum(c - 1 for c in same_text.values() if c > 1),
        "acked_without_effect": no_effect,
        "notifications": dict(status),
        "stuck": stuck,
        "dead_without_reason": dead_no_reason,
        "possible_repeats": repeats.possible_repeats,
        "dead_reasons": dict(Counter(_short(r.last_error) for r in rows if r.status == "dead")),
    }


def _quantiles(book: Book) -> str:
    times = sorted(s.answered_in for s in book.sent if s.answered_in is not None)
    if not times:
        return "none"
    return " / ".join(f"{times[min(len(times) - 1, int(q * len(times)))]:.1f}" for q in (0.5, 0.99, 1.0))


def _short(error: str | None) -> str:
    return re.sub(r"\d+", "N", (error or "").split(":")[0])[:60]


def log_errors(*paths: Path) -> dict[str, int]:
    """Exception classes named at the start of a line in the service logs (the last line of a traceback)."""
    pattern = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Timeout)): ")
    counts: Counter[str] = Counter()
    for path in paths:
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                if m := pattern.match(line):
                    counts[f"{path.stem}: {m.group(1)}"] += 1
    return dict(counts.most_common(12))


def summarise(
    args: argparse.Namespace,
    faults: list[Fault],
    book: Book,
    result: dict[str, Any],
    drain_s: float,
    logs: dict[str, int],
) -> tuple[list[tuple[str, Any, str]], bool]:
    """The summary table rows and whether the run passed."""
    rows: list[tuple[str, Any, str]] = []
    for f in faults:
        rows.append((f"fault {f.name} at {f.at:.0f}s", f"{f.took:.1f}s: {f.error or f.detail}", ""))
    outcomes = Counter(r.outcome for r in book.residents)
    rows += [
        ("residents (one report dialogue each)", len(book.residents), ""),
        (
            "residents told their ticket number / unanswered / cut off at the end",
            f"{outcomes['told']} / {outcomes['unanswered']} / {outcomes['cut off']}",
            "",
        ),
        ("messages sent WeChat / Telegram", f"{book.messages['wechat']} / {book.messages['telegram']}", ""),
        (
            "webhook deliveries attempted WeChat / Telegram",
            f"{book.attempts['wechat']} / {book.attempts['telegram']}",
            "",
        ),
        ("answered 200 WeChat / Telegram", f"{book.acked['wechat']} / {book.acked['telegram']}", ""),
        ("platform redeliveries WeChat / Telegram", f"{book.retries['wechat']} / {book.retries['telegram']}", ""),
        (
            "platform gave up WeChat / Telegram (resident wrote again)",
            f"{book.given_up['wechat']} / {book.given_up['telegram']}",
            "",
        ),
        ("'please try again' replies (resident wrote again)", book.error_replies, ""),
        (
            "ticket numbers told / found / lost",
            f"{result['tickets_told']} / {result['tickets_found']} / {len(result['lost'])}",
            "lost 0",
        ),
        ("tickets of these residents (never told)", f"{result['resident_tickets']} ({result['untold_tickets']})", ""),
        ("duplicate tickets (residents with two unmerged tickets)", len(result["duplicates"]), "0"),
        (
            "… the same after the resident wrote again (their choice: not counted)",
            len(result["reported_twice_after_resend"]),
            "",
        ),
        ("same resident and text in two tickets (merged included)", result["same_text_repeats"], ""),
        ("first bot message after a resident's message p50 / p99 / max (s)", _quantiles(book), ""),
        ("200s without a recorded effect", len(result["acked_without_effect"]), "0"),
        (
            "notifications sent / folded into another's message / fallback / dead / stuck pending",
            f"{result['notifications'].get('sent', 0)} / {result['notifications'].get('folded', 0)} / "
            f"{result['notifications'].get('fallback', 0)} / {result['notifications'].get('dead', 0)} / "
            f"{len(result['stuck'])}",
            "stuck 0",
        ),
        ("dead-lettered without a reason", len(result["dead_without_reason"]), "0"),
        ("messages possibly sent twice (claims without outcome)", result["possible_repeats"], ""),
        (f"outbox drain after the last dialogue (bounded {args.drain:.0f}s)", f"{drain_s:.1f}s", ""),
        ("client errors by kind", ", ".join(f"{k} {v}" for k, v in book.errors.most_common()) or "none", ""),
        ("service log errors by kind", ", ".join(f"{k} {v}" for k, v in logs.items()) or "none", ""),
    ]
    if result["dead_reasons"]:
        rows.append(("dead-letter reasons", ", ".join(f"{k} {v}" for k, v in result["dead_reasons"].items()), ""))
    ok = not (
        result["lost"]
        or result["duplicates"]
        or result["stuck"]
        or result["dead_without_reason"]
        or result["acked_without_effect"]
    )
    rows.append(("verdict", "pass" if ok else "FAIL", "pass"))
    return rows, ok


def main() -> None:
    """Prepare, run the load with the faults, drain, check and report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (faults spread over it)")
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the fake platforms stay down")
    parser.add_argument("--residents", type=int, default=30, help="residents talking at the same time")
    parser.add_argument("--skip", default="", help=f"comma-separated faults to skip: {','.join(FAULTS)}")
    parser.add_argument("--rounds", type=int, default=1, help="inject the sequence of faults this many times")
    parser.add_argument("--platforms", default="wechat,telegram", help="fake APIs the outage takes down")
    parser.add_argument("--telegram-share", type=float, default=0.5)
    parser.add_argument("--api-workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--drain", type=float, default=300.0, help="max seconds for dialogues and outbox to finish")
    parser.add_argument("--reply-wait", type=float, default=300.0, help="seconds a resident waits for an answer")
    parser.add_argument("--think", type=float, nargs=2, default=(3.0, 8.0), help="resident pause, min max (s)")
    parser.add_argument("--pg", default=None, help="PostgreSQL server URL (without database)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if unknown := skip - set(FAULTS):
        parser.error(f"unknown faults to skip: {', '.join(sorted(unknown))}")
    faults = [f for f in FAULTS if f not in skip] * args.rounds
    platforms = tuple(p.strip() for p in args.platforms.split(",") if p.strip())
    if set(platforms) - {"wechat", "telegram"}:
        parser.error("--platforms takes wechat and/or telegram")

    server = make_url(args.pg or os.environ.get("GRIDBOT_TEST_POSTGRES_URL") or PG_DEFAULT)
    url = server.set(database=DB_NAME).render_as_string(hide_password=False)
    pg = pg_cluster(make_url(url).port or 5432) if "pg" in faults else ("", "")
    workdir = Path(tempfile.mkdtemp(prefix="gridbot-faults-"))
    print(f"preparing {url}; logs in {workdir}", flush=True)
    prepare_database(url, workdir)

    with FaultyWeChat() as wechat, FaultyTelegram() as telegram:
        env = service_env(url, workdir, wechat, telegram)
        port = free_port()
        api, worker = api_service(env, port, args.api_workers, workdir), worker_service(env, workdir)
        world = World(
            f"http://127.0.0.1:{port}",
            port,
            api,
            worker,
            wechat,
            telegram,
            pg,
            args.outage,
            platforms,
        )
        load = Load(
            world.base,
            world.wechat,
            world.telegram,
            concurrency=args.residents,
            telegram_share=args.telegram_share,
            reply_wait=args.reply_wait,
            think=tuple(args.think),
            seed=args.seed,
        )
        try:
            api.start()
            wait_healthy(world.base, api)
            worker.start()
            done = asyncio.run(drive(world, load, faults, args.duration, args.drain))
            drain_s = wait_drained(url, args.drain)
            time.sleep(1.0)
            load.collect()
        finally:
            for fake in (wechat, telegram):
                if fake.down:
                    fake.bring_up()
            worker.stop()
            api.stop()
            worker.close()
            api.close()
    result = check(url, load.book)
    logs = log_errors(workdir / "api.log", workdir / "worker.log")
    rows, ok = summarise(args, done, load.book, result, drain_s, logs)
    notes = (
        f"{args.duration:.0f} s of load by {args.residents} concurrent simulated residents "
        f"({round(args.telegram_share * 100)}% Telegram, the rest WeChat plain-mode XML), each reporting one "
        f"problem and answering the bot until told a ticket number, pausing {args.think[0]:.0f}–"
        f"{args.think[1]:.0f} s between messages. uvicorn with {args.api_workers} worker processes and one "
        f"`gridbot worker` on PostgreSQL; fake WeChat and Telegram APIs in the load process. Faults in order, "
        f"evenly spread: {', '.join(faults) or 'none'} (platform outage {args.outage:.0f} s). Clients redeliver "
        f"like the platforms: WeChat up to {3} times with the same MsgId (5 s timeout), Telegram until 200 for "
        f"up to 2 minutes. Service logs: {workdir}."
    )
    figures = {
        "faults": [asdict(f) for f in done],
        "book": {
            "residents": len(load.book.residents),
            "outcomes": dict(Counter(r.outcome for r in load.book.residents)),
            "messages": dict(load.book.messages),
            "attempts": dict(load.book.attempts),
            "acked": dict(load.book.acked),
            "retries": dict(load.book.retries),
            "given_up": dict(load.book.given_up),
            "errors": dict(load.book.errors),
            "error_replies": load.book.error_replies,
            "resends": load.book.resends,
        },
        "check": result,
        "drain_s": drain_s,
        "log_errors": logs,
        "ok": ok,
        "workdir": str(workdir),
    }
    report(
        "faults",
        "Faults under load (bench/faults)",
        rows,
        as_json=args.json,
        figures=figures,
        notes=notes,
        target=RELIABILITY_MD,
        command="python -m bench.faults",
    )
    if not ok and not args.json:
        for key in ("lost", "duplicates", "acked_without_effect", "stuck", "dead_without_reason"):
            if result[key]:
                print(f"{key}: {str(result[key])[:2000]}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

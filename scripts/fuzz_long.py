"""The long fuzz run (issue 8): ≥ 10,000 cases against the whole service, on a throw-away database.

Three parts: schemathesis over the OpenAPI document (/api/, /health) as each identity; raw (unsigned)
garbage at the chat webhooks; signed cases at the chat webhooks (WeChat plain and AES, WeCom, Telegram),
which get past the signature checks into parsing and the conversation engine.

    .venv/bin/python scripts/fuzz_long.py                 # ≈ 23,000 cases, SQLite in a temporary directory
    .venv/bin/python scripts/fuzz_long.py --examples 0 --raw-examples 0 --endpoint telegram=5000   # one endpoint
    .venv/bin/python scripts/fuzz_long.py --database-url postgresql://postgres@127.0.0.1:5432/gridbot_fuzz  # wiped

Prints a summary (cases and statuses per endpoint, 5xx, rows created by rejected input, forged requests
accepted, errors the app caught and logged, one example per distinct finding), writes it to RELIABILITY.md
(unless --no-record) and exits 1 on any finding.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

# Operations of the OpenAPI document whose path starts with one of these are fuzzed by schemathesis.
SCHEMA_PREFIXES: tuple[str, ...] = (
    "/api/",
    "/health",
)
# Endpoints outside the OpenAPI document (the chat webhooks), fuzzed with raw hypothesis-generated query
# strings, headers and bodies. None of these requests is signed, so every one must be refused.
RAW_ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("GET", "/wechat"),
    ("POST", "/wechat"),
    ("GET", "/wecom"),
    ("POST", "/wecom"),
    ("POST", "/telegram/webhook"),
)
IDENTITIES = ("ADM01", "CD01", "GW001")  # besides anonymous
DEMO_PASSWORD = "fuzz-pass-123"


def main(argv: list[str] | None = None) -> int:
    """Run the long fuzz and print its summary; the exit status is 1 when anything was found."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--examples", type=int, default=60, help="API: cases per operation, identity, mode and pass (0 skips the API)"
    )
    parser.add_argument("--raw-examples", type=int, default=400, help="cases per raw (unsigned) webhook endpoint")
    parser.add_argument(
        "--webhook-examples", type=int, default=2000, help="signed cases per webhook endpoint and mode (6 of them)"
    )
    parser.add_argument(
        "--endpoint",
        action="append",
        default=[],
        metavar="TEXT=N",
        help="signed cases for the webhook endpoints whose name contains TEXT (repeatable), "
        "e.g. --endpoint telegram=3000 --endpoint 'GET /wecom=0'",
    )
    parser.add_argument("--database-url", default=None, help="a database to WIPE and use (default: temp SQLite)")
    parser.add_argument("--derandomize", action="store_true", help="the same cases on every run")
    parser.add_argument("--no-record", action="store_true", help="do not write the summary into RELIABILITY.md")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    overrides = [_count_override(parser, spec) for spec in args.endpoint]

    from fastapi.testclient import TestClient

    from backend.logging_setup import configure_logging
    from backend.runtime import build_runtime
    from bot.app import build_app
    from tests.fakes.channels import channel_settings
    from tests.fakes.telegram import FakeTelegramAPI
    from tests.fakes.wechat import FakeWeChatAPI, new_aes_key
    from tests.security.fuzzing import FuzzReport, all_tables, bearer, fuzz_app, fuzz_raw, row_counts, seed_ticket
    from tests.security.webhook_fuzzing import ChannelKeys, fuzz_webhooks, prepare, webhook_families
    from tests.security.webhook_strategies import raw_webhook_queries

    configure_logging("WARNING")
    logging.getLogger("python_multipart").setLevel(logging.ERROR)  # one line per malformed multipart header
    for name in ("bot", "telegram", "httpx"):  # one warning per refused webhook request
        logging.getLogger(name).setLevel(logging.ERROR)
    seed = 0 if args.derandomize else None
    say = None if args.quiet else (lambda line: print(line, flush=True))
    with (
        tempfile.TemporaryDirectory(prefix="gridbot-fuzz-") as tmp,
        FakeWeChatAPI() as wechat_api,
        FakeTelegramAPI() as telegram_api,
    ):
        url = args.database_url or f"sqlite:///{Path(tmp) / 'fuzz.db'}"
        base = _fresh_database(url, Path(tmp))
        settings = channel_settings(base, wechat_api, telegram_api)
        aes_settings = settings.model_copy(update={"wechat_aes_key": new_aes_key()})
        runtime = build_runtime(settings)
        app = build_app(settings, runtime)
        aes_app = build_app(aes_settings, dataclasses.replace(runtime, settings=aes_settings))
        session_factory = app.state.session_factory
        tables = all_tables(session_factory)

        report = FuzzReport()
        started = time.perf_counter()
        if args.examples > 0:
            with TestClient(app) as client:
                identities: dict[str, dict[str, str]] = {"anonymous": {}}
                identities.update({code: bearer(client, code, DEMO_PASSWORD) for code in IDENTITIES})
                number = seed_ticket(client, identities["ADM01"])
            report = fuzz_app(
                app,
                session_factory,
                identities=identities,
                examples_per_operation=args.examples,
                path_parameters={"number": number},
                seed=seed,
                progress=say,
                include=lambda _method, path: path.startswith(SCHEMA_PREFIXES),
            )
        parts = {"API (schemathesis)": (report.cases, time.perf_counter() - started)}
        mark = (report.cases, time.perf_counter())
        for method, path in RAW_ENDPOINTS if args.raw_examples > 0 else ():
            fuzz_raw(
                app,
                session_factory,
                method=method,
                path=path,
                examples=args.raw_examples,
                report=report,
                seed=seed,
                tables=tables,
                must_refuse=True,
                queries=raw_webhook_queries,
            )
            if say:
                say(f"{method} {path} [raw] → {report.cases} cases so far")
        parts["webhooks, unsigned (raw)"] = (report.cases - mark[0], time.perf_counter() - mark[1])
        mark = (report.cases, time.perf_counter())
        prepare(session_factory, telegram_api.files)
        start = row_counts(session_factory, tables)
        if args.webhook_examples > 0 or overrides:
            keys = ChannelKeys.from_settings(settings, aes_settings)
            counts = {f.name: args.webhook_examples for f in webhook_families(keys)}
            for text, n in overrides:
                counts.update({name: n for name in counts if text.lower() in name.lower()})
            with TestClient(app) as client, TestClient(aes_app) as aes_client:
                fuzz_webhooks(
                    {"plain": client, "aes": aes_client},
                    session_factory,
                    keys,
                    examples=counts,
                    report=report,
                    tables=tables,
                    database_url=settings.database_url,
                    seed=seed,
                    progress=say,
                )
        parts["webhooks, signed"] = (report.cases - mark[0], time.perf_counter() - mark[1])
        report.seconds = time.perf_counter() - started
        end = row_counts(session_factory, tables)
        written = {t: end[t] - start[t] for t in tables if end[t] != start[t]}
        for a in (app, aes_app):
            a.state.session_factory.kw["bind"].dispose()

    print(report.summary())
    print("parts: " + ", ".join(f"{name} {n} cases in {sec:.0f} s" for name, (n, sec) in parts.items()))
    for name, n in sorted(report.per_operation.items()):
        print(f"  {n:6d}  {name:45s}  {_histogram(report.statuses_by_operation.get(name, Counter()))}")
    print(
        "rows written by accepted webhook requests: " + (", ".join(f"{t} +{n}" for t, n in written.items()) or "none")
    )
    failed = bool(report.findings)
    print("FAIL" if failed else "OK: no 5xx, no rows from rejected input, no forged request accepted")
    if not args.no_record:
        _record(
            report,
            parts=parts,
            written=written,
            argv=sys.argv[1:] if argv is None else argv,
            database=url.split(":", 1)[0],
        )
    return 1 if failed else 0


def _count_override(parser: argparse.ArgumentParser, spec: str) -> tuple[str, int]:
    text, sep, n = spec.rpartition("=")
    if not sep or not text or not n.isdigit():
        parser.error(f"--endpoint wants TEXT=N, not {spec!r}")
    return text, int(n)


def _fresh_database(url: str, tmp: Path) -> Any:
    """Wipe (PostgreSQL) or create the database, migrate it, load the demo city and staff; the base settings."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from backend.cityconfig import load_city_config
    from backend.db.migrate import upgrade
    from backend.db.session import make_engine
    from backend.services.reference import sync_reference, sync_staff
    from backend.settings import Settings

    if url.startswith("postgresql"):
        _create_database(url)
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    settings = Settings(env="test", data_dir=tmp / "var", database_url=url)
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        city = load_city_config(settings.config_dir)
        sync_reference(session, city)
        sync_staff(session, city, demo_password=DEMO_PASSWORD)
        session.commit()
    engine.dispose()
    return settings


def _create_database(url: str) -> None:
    """Create the PostgreSQL database of the URL if it does not exist yet."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{parsed.database}"')


def _histogram(statuses: Counter[int]) -> str:
    return ", ".join(f"{k}×{v}" for k, v in sorted(statuses.items()))


def _record(
    report: Any, *, parts: dict[str, tuple[int, float]], written: dict[str, int], argv: list[str], database: str
) -> None:
    """Write the run's figures into RELIABILITY.md."""
    from bench._report import RELIABILITY_MD
    from bench._report import report as write_report

    rows: list[tuple[str, Any, str]] = [
        ("cases, total", report.cases, "≥ 10,000"),
        ("run time (s)", round(report.seconds), "≤ 900"),
    ]
    rows += [(f"cases: {name}", f"{n} in {seconds:.0f} s", "") for name, (n, seconds) in parts.items()]
    rows += [
        ("responses by status", _histogram(report.statuses), ""),
        ("5xx or crashes", len(report.server_errors), "0"),
        ("rejected requests that created rows", len(report.leaked_rows), "0"),
        ("forged or hostile requests accepted", len(report.wrongly_accepted), "0"),
        ("errors caught and logged, replies that do not verify", len(report.other_findings), "0"),
    ]
    rows += [
        (f"{name}", f"{n} cases: {_histogram(report.statuses_by_operation.get(name, Counter()))}", "")
        for name, n in sorted(report.per_operation.items())
        if not name.startswith(("GET /api", "POST /api"))
    ]
    notes = (
        f"Database: {database}. API operations fuzzed: "
        f"{sum(1 for n in report.per_operation if n.startswith(('GET /api', 'POST /api', 'GET /health')))}. "
        "Signed webhook cases are signed (and encrypted) at send time with a fresh nonce; about one in four is "
        "forged (bad or missing signature, wrong token, stale/future/junk timestamp, replayed nonce, wrong "
        "receiver, wrong Telegram secret). Rows written by accepted webhook requests: "
        + (", ".join(f"{t} +{n}" for t, n in sorted(written.items())) or "none")
        + "."
    )
    distinct = report.distinct_findings()
    if distinct:
        notes += "\n\nFindings (distinct; count, kind, endpoint, error):\n\n" + "\n".join(
            f"- {len(found)}× [{kind}] {operation}: `{error}`" for (kind, operation, error), found in distinct.items()
        )
    write_report(
        "fuzz",
        "Long fuzz: API and chat webhooks (scripts/fuzz_long.py)",
        rows,
        as_json=False,
        figures={},
        notes=notes,
        target=RELIABILITY_MD,
        command=" ".join(["python scripts/fuzz_long.py", *argv]),
    )


if __name__ == "__main__":
    sys.exit(main())

"""The long fuzz run (issue 8): ≥ 10,000 schemathesis cases against the whole service, on a throw-away database.

    .venv/bin/python scripts/fuzz_long.py                      # SQLite in a temporary directory
    .venv/bin/python scripts/fuzz_long.py --examples 300       # more cases per operation and pass
    .venv/bin/python scripts/fuzz_long.py --database-url postgresql://postgres@127.0.0.1:5432/fuzz   # (wiped!)

Prints a summary (cases, statuses, 5xx, rows created by rejected input) and exits 1 on any finding.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

# Operations of the OpenAPI document whose path starts with one of these are fuzzed by schemathesis.
SCHEMA_PREFIXES: tuple[str, ...] = (
    "/api/",
    "/health",
)
# Endpoints outside the OpenAPI document (webhooks are usually include_in_schema=False), fuzzed with raw
# hypothesis-generated query strings, headers and bodies. One line per endpoint, e.g. ("POST", "/wechat").
RAW_ENDPOINTS: tuple[tuple[str, str], ...] = (
)
IDENTITIES = ("ADM01", "CD01", "GW001")  # besides anonymous
DEMO_PASSWORD = "fuzz-pass-123"


def main(argv: list[str] | None = None) -> int:
    """Run the long fuzz and print its summary; the exit status is 1 when anything was found."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=150, help="cases per operation, identity, mode and pass")
    parser.add_argument("--raw-examples", type=int, default=1000, help="cases per raw (non-OpenAPI) endpoint")
    parser.add_argument("--database-url", default=None, help="a database to WIPE and use (default: temp SQLite)")
    parser.add_argument("--derandomize", action="store_true", help="the same cases on every run")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    from fastapi.testclient import TestClient
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from backend.db.migrate import upgrade
    from backend.db.session import make_engine
    from backend.logging_setup import configure_logging
    from backend.services.reference import sync_reference, sync_staff
    from backend.settings import Settings
    from bot.app import build_app
    from tests.security.fuzzing import bearer, fuzz_app, fuzz_raw, seed_ticket

    configure_logging("WARNING")
    logging.getLogger("python_multipart").setLevel(logging.ERROR)  # one line per malformed multipart header
    with tempfile.TemporaryDirectory(prefix="gridbot-fuzz-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'fuzz.db'}"
        if url.startswith("postgresql"):
            engine = make_engine(url)
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            engine.dispose()
        settings = Settings(env="test", data_dir=Path(tmp) / "var", database_url=url)
        upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            from backend.cityconfig import load_city_config

            city = load_city_config(settings.config_dir)
            sync_reference(session, city)
            sync_staff(session, city, demo_password=DEMO_PASSWORD)
            session.commit()
        engine.dispose()

        app = build_app(settings)
        session_factory = app.state.session_factory
        with TestClient(app) as client:
            identities: dict[str, dict[str, str]] = {"anonymous": {}}
            identities.update({code: bearer(client, code, DEMO_PASSWORD) for code in IDENTITIES})
            number = seed_ticket(client, identities["ADM01"])

        say = None if args.quiet else (lambda line: print(line, flush=True))
        report = fuzz_app(app, session_factory, identities=identities, examples_per_operation=args.examples,
                          path_parameters={"number": number}, seed=0 if args.derandomize else None, progress=say,
                          include=lambda _method, path: path.startswith(SCHEMA_PREFIXES))
        for method, path in RAW_ENDPOINTS:
            fuzz_raw(app, session_factory, method=method, path=path, examples=args.raw_examples, report=report,
                     seed=0 if args.derandomize else None)
            if say:
                say(f"{method} {path} [raw] → {report.cases} cases so far")
        app.state.engine.dispose()

    print(report.summary())
    for name, n in sorted(report.per_operation.items()):
        print(f"  {n:6d}  {name}")
    failed = bool(report.findings)
    print("FAIL" if failed else "OK: no 5xx and no rows from rejected input")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

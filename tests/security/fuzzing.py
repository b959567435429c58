"""Schemathesis + hypothesis fuzz driver shared by the short test run and scripts/fuzz_long.py.

Every generated request goes through the real ASGI app; the driver records each response status, every 5xx
(with the request that caused it) and every rejected (4xx) request after which a watched table gained rows.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import hypothesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.openapi import from_asgi
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session, sessionmaker

WATCHED_TABLES = ("tickets", "ticket_events", "attachments", "notifications")
SEED_TICKET = {"text": "市民来电：建设路路灯不亮", "lon": 113.5895, "lat": 34.73925, "category_code": "street_lights"}


@dataclass
class Finding:
    """One failing request: what was sent and what came back."""

    # "5xx", "rows" (a rejected request created rows), "exception" (the app raised through) or "accepted" (a
    # request that must be refused, e.g. with a bad signature, was answered with a 2xx/3xx)
    kind: str
    operation: str
    identity: str
    status: int | None
    request: str
    detail: str


@dataclass
class FuzzReport:
    """What a fuzz run did and found."""

    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    per_operation: Counter[str] = field(default_factory=Counter)
    statuses_by_operation: dict[str, Counter[int]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, operation: str, status: int | None) -> None:
        """Count one case of an operation and its status (None: no response)."""
        self.cases += 1
        self.per_operation[operation] += 1
        if status is not None:
            self.statuses[status] += 1
            self.statuses_by_operation.setdefault(operation, Counter())[status] += 1

    @property
    def server_errors(self) -> list[Finding]:
        """Requests answered with a 5xx or that crashed the app."""
        return [f for f in self.findings if f.kind in ("5xx", "exception")]

    @property
    def leaked_rows(self) -> list[Finding]:
        """Rejected requests after which a watched table had more rows."""
        return [f for f in self.findings if f.kind == "rows"]

    @property
    def wrongly_accepted(self) -> list[Finding]:
        """Requests that had to be refused (bad signature, stale, DTD …) but were answered 2xx/3xx."""
        return [f for f in self.findings if f.kind == "accepted"]

    def summary(self) -> str:
        """A few lines for a human."""
        lines = [
            f"cases: {self.cases} in {self.seconds:.1f} s",
            "statuses: " + ", ".join(f"{k}×{v}" for k, v in sorted(self.statuses.items())),
            f"5xx (or crashes): {len(self.server_errors)}",
            f"rejected requests that created rows: {len(self.leaked_rows)}",
            f"requests that had to be refused but were accepted: {len(self.wrongly_accepted)}",
            f"other findings (errors logged, replies that do not verify): {len(self.other_findings)}",
        ]
        for (kind, operation, _), found in list(self.distinct_findings().items())[:30]:
            f = found[0]
            lines.append(
                f"- [{kind}] {operation} as {f.identity} → {f.status} ({len(found)}×)\n"
                f"    {f.request[:1500]}\n    {f.detail}"
            )
        return "\n".join(lines)

    def distinct_findings(self) -> dict[tuple[str, str, str], list[Finding]]:
        """Findings grouped by kind, operation and error (its type and where in our code it was raised)."""
        groups: dict[tuple[str, str, str], list[Finding]] = {}
        for f in self.findings:
            groups.setdefault((f.kind, f.operation, _signature(f.detail)), []).append(f)
        return groups

    @property
    def other_findings(self) -> list[Finding]:
        """Findings that are neither server errors, leaked rows nor wrongly accepted requests."""
        return [f for f in self.findings if f.kind not in ("5xx", "exception", "rows", "accepted")]


def _signature(detail: str) -> str:
    """What makes two findings the same: the error type and the innermost frame in our code, or else the
    detail's first clause."""
    lines = detail.strip().splitlines()
    ours = [
        line.strip()
        for line in lines
        if line.strip().startswith('File "/') and "site-packages" not in line and "/lib/python" not in line
    ]
    if ours:
        return f"{ours[-1]} {lines[-1].split(':', 1)[0]}"
    return lines[0].split(";", 1)[0][:160] if lines else ""


def row_counts(session_factory: sessionmaker[Session], tables: Iterable[str] = WATCHED_TABLES) -> dict[str, int]:
    """Row counts of the watched tables (or of the given ones)."""
    with session_factory() as session:
        return {t: int(session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables}


def all_tables(session_factory: sessionmaker[Session]) -> tuple[str, ...]:
    """Every table of the database except Alembic's bookkeeping."""
    with session_factory() as session:
        names = inspect(session.connection()).get_table_names()
    return tuple(sorted(n for n in names if n != "alembic_version"))


def grown_tables(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """Tables whose row count changed, with the change."""
    return {t: after[t] - before[t] for t in before if after[t] != before[t]}


def bearer(client: TestClient, username: str, password: str) -> dict[str, str]:
    """Log in through the API and return the Authorization header."""
    resp = client.post("/api/auth/token", data={"username": username, "password": password})
    resp.raise_for_status()
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def seed_ticket(client: TestClient, headers: Mapping[str, str]) -> str:
    """Register one real ticket through the API so that path parameters can hit an existing row."""
    resp = client.post("/api/tickets", headers=dict(headers), json=SEED_TICKET)
    resp.raise_for_status()
    return str(resp.json()["number"])


def _our_frames(exc_info: Any = None) -> str:
    """An exception (default: the current one): the frames in our own code, then the innermost frame and the
    error itself."""
    kind, error, tb = exc_info or sys.exc_info()
    frames = traceback.extract_tb(tb)
    keep = [f for f in frames if "site-packages" not in f.filename and "/tests/security/" not in f.filename]
    lines = traceback.format_list(keep + frames[-1:])
    return "".join(lines) + "".join(traceback.format_exception_only(kind, error)).strip()


def _describe(case: Any) -> str:
    try:
        return str(case.as_curl_command())
    except Exception:  # a case that cannot even be rendered is still worth naming
        return f"{case.method} {case.formatted_path} query={case.query!r} body={getattr(case, 'body', None)!r}"


def fuzz_app(
    app: FastAPI,
    session_factory: sessionmaker[Session],
    *,
    identities: Mapping[str, Mapping[str, str]],
    examples_per_operation: int,
    path_parameters: Mapping[str, Any] | None = None,
    modes: Iterable[GenerationMode] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
    include: Callable[[str, str], bool] | None = None,
    seed: int | None = 0,
    progress: Callable[[str], None] | None = None,
) -> FuzzReport:
    """Fuzz every operation of the app's OpenAPI document as each identity, in each generation mode.

    identities maps a label to the headers sent (e.g. {"anonymous": {}, "ADM01": {"Authorization": ...}}).
    path_parameters, when given, is a second pass per operation with those path values fixed (real rows).
    include(method, path) selects operations; None means all.
    """
    schema = from_asgi("/openapi.json", app)
    report = FuzzReport()
    started = time.perf_counter()
    operations = [r.ok() for r in schema.get_all_operations()]
    for operation in operations:
        if include is not None and not include(operation.method.upper(), operation.path):
            continue
        names = {p.name for p in operation.path_parameters}
        fixed = {k: v for k, v in (path_parameters or {}).items() if k in names}
        passes: list[dict[str, Any] | None] = [None] + ([fixed] if fixed and len(fixed) == len(names) else [])
        for label, headers in identities.items():
            for mode in modes:
                if mode is GenerationMode.NEGATIVE and not _has_inputs(operation):
                    continue  # nothing to make invalid
                for values in passes:
                    _fuzz_operation(
                        operation,
                        report,
                        session_factory,
                        label=label,
                        headers=dict(headers),
                        mode=mode,
                        path_values=values,
                        examples=examples_per_operation,
                        seed=seed,
                    )
                    if progress:
                        progress(
                            f"{operation.method.upper()} {operation.path} [{label}, {mode.value}"
                            f"{', fixed path' if values else ''}] → {report.cases} cases so far"
                        )
    report.seconds = time.perf_counter() - started
    return report


def _has_inputs(operation: Any) -> bool:
    return any(
        len(group)
        for group in (operation.path_parameters, operation.query, operation.headers, operation.cookies, operation.body)
    )


def _fuzz_operation(
    operation: Any,
    report: FuzzReport,
    session_factory: sessionmaker[Session],
    *,
    label: str,
    headers: dict[str, str],
    mode: GenerationMode,
    path_values: dict[str, Any] | None,
    examples: int,
    seed: int | None,
) -> None:
    name = f"{operation.method.upper()} {operation.path}"
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_values)

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=seed is not None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
        print_blob=False,
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        before = row_counts(session_factory)
        try:
            response = case.call(headers=headers)
        except Exception:
            report.count(name, None)
            report.findings.append(Finding("exception", name, label, None, _describe(case), _our_frames()))
            return
        status = response.status_code
        report.count(name, status)
        if status >= 500:
            report.findings.append(Finding("5xx", name, label, status, _describe(case), response.text[:500]))
        elif 400 <= status < 500:
            after = row_counts(session_factory)
            grown = {t: after[t] - before[t] for t in WATCHED_TABLES if after[t] != before[t]}
            if grown:
                report.findings.append(
                    Finding(
                        "rows",
                        name,
                        label,
                        status,
                        _describe(case),
                        f"rows changed: {grown}; response {response.text[:300]}",
                    )
                )

    if seed is None:  # an explicit random seed keeps hypothesis from printing "reproduce with @seed(...)" lines
        run = hypothesis.seed(random.getrandbits(64))(run)
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):  # every generated case was filtered out
        run()


# Parameter names our webhooks read (WeChat/WeCom signatures, Telegram's secret header) plus arbitrary ones.
_RAW_PARAMS = ("signature", "msg_signature", "timestamp", "nonce", "echostr", "openid", "encrypt_type")
_RAW_HEADERS = ("X-Telegram-Bot-Api-Secret-Token", "Content-Type")
_XML_FIELDS = (
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "Content",
    "MsgId",
    "Encrypt",
    "Event",
    "PicUrl",
    "MediaId",
    "Location_X",
    "Location_Y",
    "AgentID",
)
_text = st.text(max_size=80)
_xml = st.lists(st.tuples(st.sampled_from(_XML_FIELDS), _text), max_size=8).map(
    lambda kv: "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in kv) + "</xml>"
)
_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text
_shallow = _scalar | st.lists(_scalar, max_size=4)
_json = _shallow | st.dictionaries(_text, _shallow | st.dictionaries(_text, _scalar, max_size=3), max_size=4)
_update = st.fixed_dictionaries(
    {"update_id": st.integers()},
    optional={
        "message": st.dictionaries(st.sampled_from(("message_id", "date", "text", "chat", "from", "location")), _json)
    },
)
RAW_BODIES = st.one_of(
    st.binary(max_size=300),
    _text.map(str.encode),
    _xml.map(str.encode),
    _json.map(lambda v: json.dumps(v).encode()),
    _update.map(lambda v: json.dumps(v).encode()),
)
RAW_QUERIES = st.dictionaries(st.sampled_from(_RAW_PARAMS) | _text, _text, max_size=6)
RAW_HEADER_VALUES = st.dictionaries(
    st.sampled_from(_RAW_HEADERS), st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60), max_size=2
)


def fuzz_raw(
    app: FastAPI,
    session_factory: sessionmaker[Session],
    *,
    method: str,
    path: str,
    examples: int,
    report: FuzzReport,
    seed: int | None = 0,
    tables: Iterable[str] = WATCHED_TABLES,
    must_refuse: bool = False,
    queries: st.SearchStrategy[dict[str, str]] = RAW_QUERIES,
) -> None:
    """Fuzz an endpoint outside the OpenAPI document with random query strings, headers and bodies.

    tables are the ones whose row counts a rejected request must leave alone; with must_refuse (an unsigned
    request to a signed webhook) any 2xx/3xx answer is a finding too. queries: the query strings to send.
    """
    name = f"{method} {path} (raw)"
    tables = tuple(tables)
    with TestClient(app, raise_server_exceptions=False) as client:

        @hypothesis.settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=seed is not None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
            print_blob=False,
        )
        @given(query=queries, headers=RAW_HEADER_VALUES, body=RAW_BODIES)
        def run(query: dict[str, str], headers: dict[str, str], body: bytes) -> None:
            before = row_counts(session_factory, tables)
            request = f"{method} {path} query={query!r} headers={headers!r} body={body[:200]!r}"
            response = client.request(method, path, params=query, headers=headers, content=body)
            status = response.status_code
            report.count(name, status)
            if status >= 500:
                report.findings.append(Finding("5xx", name, "anonymous", status, request, response.text[:500]))
            elif must_refuse and status < 400:
                report.findings.append(Finding("accepted", name, "anonymous", status, request, response.text[:300]))
            if 400 <= status < 500 or (must_refuse and status < 400):
                grown = grown_tables(before, row_counts(session_factory, tables))
                if grown:
                    report.findings.append(
                        Finding("rows", name, "anonymous", status, request, f"rows changed: {grown}")
                    )

        if seed is None:
            run = hypothesis.seed(random.getrandbits(64))(run)
        run()

"""A short fuzz of the chat webhooks: no 5xx, no rows from rejected input, no forged request accepted.

Signed cases reach past the signature check into parsing and the engine (tests/security/webhook_fuzzing.py);
raw cases are unsigned garbage. The long run (with the API, ≥ 10,000 cases) is scripts/fuzz_long.py.
"""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.channels are parameters here)

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from backend.runtime import Runtime
from backend.settings import Settings
from tests.fakes.channels import (  # noqa: F401  (fixtures)
    build_channel_app,
    chat_runtime,
    telegram_api,
    wechat_api,
)
from tests.fakes.telegram import FakeTelegramAPI
from tests.fakes.wechat import new_aes_key
from tests.security.fuzzing import FuzzReport, all_tables, fuzz_raw, row_counts
from tests.security.webhook_fuzzing import ChannelKeys, fuzz_webhooks, prepare, webhook_families
from tests.security.webhook_strategies import raw_webhook_queries

EXAMPLES_PER_FAMILY = 40
RAW_EXAMPLES = 12
RAW_ENDPOINTS = (
    ("GET", "/wechat"),
    ("POST", "/wechat"),
    ("GET", "/wecom"),
    ("POST", "/wecom"),
    ("POST", "/telegram/webhook"),
)


@pytest.fixture
def aes_settings(chat_runtime: Runtime) -> Settings:
    """The channel settings with the Official Account in safe (AES) mode."""
    return chat_runtime.settings.model_copy(update={"wechat_aes_key": new_aes_key()})


@pytest.fixture
def apps(chat_runtime: Runtime, aes_settings: Settings, session_factory: sessionmaker[Session]) -> dict[str, FastAPI]:
    """The app with every channel, WeChat in plain mode, and a second one with WeChat in AES mode."""
    return {
        "plain": build_channel_app(chat_runtime, session_factory),
        "aes": build_channel_app(dataclasses.replace(chat_runtime, settings=aes_settings), session_factory),
    }


@pytest.fixture
def clients(
    apps: dict[str, FastAPI], session_factory: sessionmaker[Session], telegram_api: FakeTelegramAPI
) -> Iterator[dict[str, TestClient]]:
    """Clients of both apps with their lifespans running, staff bound on WeCom, files on the fake Bot API."""
    prepare(session_factory, telegram_api.files)
    with TestClient(apps["plain"]) as plain, TestClient(apps["aes"]) as aes:
        yield {"plain": plain, "aes": aes}


def test_signed_webhook_fuzz_gets_no_5xx_and_refused_requests_leave_no_rows(
    clients: dict[str, TestClient],
    chat_runtime: Runtime,
    aes_settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    tables = all_tables(session_factory)
    start = row_counts(session_factory, tables)
    keys = ChannelKeys.from_settings(chat_runtime.settings, aes_settings)
    report = FuzzReport()
    fuzz_webhooks(
        clients,
        session_factory,
        keys,
        examples=EXAMPLES_PER_FAMILY,
        report=report,
        tables=tables,
        database_url=chat_runtime.settings.database_url,
    )
    print(report.summary())
    for name, n in sorted(report.per_operation.items()):
        print(f"{n:4d}  {name}: {dict(sorted(report.statuses_by_operation.get(name, {}).items()))}")
    families = webhook_families(keys)
    assert report.cases == sum(EXAMPLES_PER_FAMILY + len(f.forged) for f in families)
    assert not report.findings, report.summary()
    for name, statuses in report.statuses_by_operation.items():
        assert statuses.keys() & {200}, f"{name}: nothing accepted, the fuzz only exercised rejections"
        assert statuses.keys() & set(range(400, 500)), f"{name}: nothing refused"
    grown = {t: n - start[t] for t, n in row_counts(session_factory, tables).items() if n != start[t]}
    assert grown.get("inbound_messages", 0) > 0, grown  # accepted messages reached the engine


def test_unsigned_garbage_to_the_webhooks_is_refused_and_leaves_no_rows(
    apps: dict[str, FastAPI], session_factory: sessionmaker[Session]
) -> None:
    report = FuzzReport()
    tables = all_tables(session_factory)
    for method, path in RAW_ENDPOINTS:
        fuzz_raw(
            apps["plain"],
            session_factory,
            method=method,
            path=path,
            examples=RAW_EXAMPLES,
            report=report,
            tables=tables,
            must_refuse=True,
            queries=raw_webhook_queries,
        )
    assert report.cases == RAW_EXAMPLES * len(RAW_ENDPOINTS)
    assert not report.findings, report.summary()
    assert set(report.statuses) <= set(range(400, 500))

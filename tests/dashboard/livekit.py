"""Shared pieces for the browser tests: a migrated file database, uvicorn in a thread, Debian Chromium.

Kept apart from the test modules so each browser test builds the server it needs (the savepoint fixtures
cannot cross threads, so these use a file SQLite database of their own).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from backend.cityconfig import CityConfig
from backend.db.migrate import upgrade
from backend.db.session import make_engine, make_session_factory
from backend.ports import FrozenClock
from backend.runtime import Runtime
from backend.services.reference import sync_reference, sync_staff
from backend.settings import PROJECT_ROOT, Settings
from tests.conftest import CONFIG_DIR, DEMO_PASSWORD, START

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


class ThreadServer(uvicorn.Server):
    """uvicorn in a background thread (signal handlers stay with the main thread)."""

    def install_signal_handlers(self) -> None:
        return None


@dataclasses.dataclass
class Database:
    """A migrated file database holding the demo city's reference data and staff."""

    url: str
    runtime: Runtime
    clock: FrozenClock
    session_factory: sessionmaker[Session]


@contextmanager
def city_database(root: Path, base_runtime: Runtime, city: CityConfig, **runtime_changes: Any) -> Iterator[Database]:
    """A fresh file SQLite database with the demo city loaded and a runtime (frozen clock) pointing at it."""
    url = f"sqlite:///{root / 'live.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as session:
        sync_reference(session, city)
        sync_staff(session, city, demo_password=DEMO_PASSWORD)
        session.commit()
    clock = FrozenClock(START)
    settings = Settings(
        env="test",
        data_dir=root / "var",
        model_dir=base_runtime.settings.model_dir,
        config_dir=CONFIG_DIR,
        database_url=url,
    )
    runtime = dataclasses.replace(base_runtime, settings=settings, clock=clock, **runtime_changes)
    try:
        yield Database(url, runtime, clock, factory)
    finally:
        engine.dispose()


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run the app on 127.0.0.1 on a free port; yields its base URL."""
    server = ThreadServer(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=3)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.fail(
            "Chromium is not installed: run scripts/test.sh as root, or apt-get install -y chromium chromium-driver"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclasses.dataclass
class Watch:
    """What a page tried to fetch from outside 127.0.0.1 and what it logged as an error."""

    external: list[str] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)

    def clear(self) -> None:
        """Forget what was seen so far (between pages)."""
        self.external.clear()
        self.errors.clear()


def offline_page(browser: Any, **options: Any) -> tuple[Any, Watch]:
    """A new page whose non-local requests are blocked and recorded, with console errors recorded."""
    context = browser.new_context(**options)
    page = context.new_page()
    watch = Watch()

    def route(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            watch.external.append(url)
            route.abort()

    context.route("**/*", route)
    page.on("console", lambda msg: watch.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: watch.errors.append(f"uncaught: {exc}"))
    return page, watch


def login(page: Any, base_url: str, code: str) -> None:
    """Log a staff member into the dashboard through its form."""
    page.goto(f"{base_url}/dashboard/login")
    page.fill("input[name=username]", code)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/dashboard/")


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot to test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

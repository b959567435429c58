"""Shared fixtures: real databases (SQLite always, PostgreSQL when GRIDBOT_TEST_POSTGRES_URL is set),
the demo city loaded once per database, a savepoint per test, a frozen clock and the shipped model."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from backend.cityconfig import CityConfig, load_city_config
from backend.db.migrate import upgrade
from backend.db.session import make_engine
from backend.ports import FrozenClock
from backend.runtime import Runtime, build_runtime
from backend.settings import PROJECT_ROOT, Settings

# The conversation tests were written for the gate as it was before the triage desk: dispatch from 0.55, ask
# below. They keep those thresholds; tests/backend/test_desk.py and tests/bot/test_triage_chat.py exercise the
# shipped defaults (backend/settings.py) and the desk explicitly.
os.environ.setdefault("GRIDBOT_DISPATCH_CONFIDENCE_THRESHOLD", "0.55")
os.environ.setdefault("GRIDBOT_LOW_CONFIDENCE_THRESHOLD", "0.0")

POSTGRES_URL = os.environ.get("GRIDBOT_TEST_POSTGRES_URL")
CONFIG_DIR = PROJECT_ROOT / "config"
DEMO_PASSWORD = "test-pass-123"
# A Monday morning in working hours, Beijing time 10:00.
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


@pytest.fixture(scope="session")
def city() -> CityConfig:
    """The shipped city configuration."""
    return load_city_config(CONFIG_DIR)


@pytest.fixture(scope="session")
def model_root() -> Path:
    """A model directory holding the default model built from the seed corpus.

    Kept under var/ between runs: ensure_default_model rebuilds it whenever the corpus changes.
    """
    from nlp.cli import ensure_default_model

    root = PROJECT_ROOT / "var" / "test-models"
    ensure_default_model(CONFIG_DIR, root)
    return root


@pytest.fixture(scope="session")
def classifier(model_root: Path):  # type: ignore[no-untyped-def]
    """The shipped model, loaded."""
    from nlp.modelfile import load_model

    return load_model(model_root / "default", allowed_root=model_root)


@pytest.fixture(scope="session", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, city: CityConfig
) -> Iterator[Engine]:
    """A migrated database with the demo city and staff loaded, per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'gridbot.db'}"
    else:
        assert POSTGRES_URL
        url = POSTGRES_URL
        eng = make_engine(url)
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        eng.dispose()
    upgrade(url)
    eng = make_engine(url)
    from backend.services.reference import sync_reference, sync_staff

    with Session(eng) as session:
        sync_reference(session, city)
        sync_staff(session, city, demo_password=DEMO_PASSWORD)
        session.commit()
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions joined to one outer transaction that is rolled back after the test."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield sessionmaker(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        outer.rollback()


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose commits become savepoints of the test's transaction."""
    with session_factory() as s:
        yield s


@pytest.fixture
def clock() -> FrozenClock:
    """A clock frozen at Monday 10:00 Beijing time."""
    return FrozenClock(START)


@pytest.fixture
def settings(tmp_path: Path, model_root: Path) -> Settings:
    """Test settings with private data and upload directories."""
    return Settings(
        env="test",
        data_dir=tmp_path / "var",
        model_dir=model_root,
        config_dir=CONFIG_DIR,
        database_url="sqlite:///unused.db",
    )


@pytest.fixture(scope="session")
def base_runtime(model_root: Path, classifier, tmp_path_factory: pytest.TempPathFactory) -> Runtime:  # type: ignore[no-untyped-def]
    """Config, indexes and models, built once per run."""
    settings = Settings(
        env="test",
        data_dir=tmp_path_factory.mktemp("var"),
        model_dir=model_root,
        config_dir=CONFIG_DIR,
        database_url="sqlite:///unused.db",
    )
    from nlp.modelstore import SHIPPED_VERSION, VersionedClassifier

    return build_runtime(settings, classifier=VersionedClassifier(classifier, SHIPPED_VERSION))


@pytest.fixture
def runtime(base_runtime: Runtime, settings: Settings, clock: FrozenClock) -> Runtime:
    """The shared runtime with this test's settings and frozen clock."""
    return dataclasses.replace(base_runtime, settings=settings, clock=clock)

"""Fixtures of the inbox tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from backend.cityconfig import CityConfig
from backend.db.migrate import upgrade
from backend.db.session import make_engine, make_session_factory
from tests.conftest import BACKENDS, POSTGRES_URL


@pytest.fixture(params=BACKENDS)
def real_db(request: pytest.FixtureRequest, tmp_path: object, city: CityConfig) -> Iterator[sessionmaker[Session]]:
    """A fresh database of the test's own, where processors really commit concurrently (on PostgreSQL too)."""
    from backend.services.reference import sync_reference, sync_staff

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/order.db"
        admin = None
    else:
        assert POSTGRES_URL
        base = make_url(POSTGRES_URL)
        name = f"{base.database}_inbox"
        admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        sync_reference(session, city)
        sync_staff(session, city, demo_password=None)
        session.commit()
    yield make_session_factory(engine)
    engine.dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}"'))
        admin.dispose()

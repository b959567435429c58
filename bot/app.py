"""The composition root: settings → engine → runtime → the FastAPI app with every channel mounted."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from backend.api.app import create_app
from backend.db.session import make_engine, make_session_factory
from backend.runtime import Runtime, build_runtime
from backend.settings import Settings, get_settings

logger = logging.getLogger(__name__)


def build_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """The whole service as one ASGI app (staff API and, as they land, the chat adapters)."""
    settings = settings or get_settings()
    runtime = runtime or build_runtime(settings)
    engine = make_engine(settings.database_url)
    app = create_app(runtime, make_session_factory(engine))
    app.state.engine = engine
    return app

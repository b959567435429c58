"""The composition root: settings → engine → runtime → the FastAPI app with every channel mounted."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from backend.api.app import create_app
from backend.db.session import make_engine, make_session_factory
from backend.runtime import Runtime, build_runtime
from backend.settings import Settings, get_settings
from bot.adapters import mount_channels
from bot.console.web import router as simulator_router
from bot.engine import ConversationEngine

logger = logging.getLogger(__name__)


def build_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """The whole service as one ASGI app: staff API, dashboard, Open311, chat webhooks, simulator."""
    settings = settings or get_settings()
    runtime = runtime or build_runtime(settings)
    db_engine = make_engine(settings.database_url)
    session_factory = make_session_factory(db_engine)
    app = create_app(runtime, session_factory)
    conversations = ConversationEngine(runtime, session_factory)
    mount_channels(app, runtime, session_factory, conversations)
    app.include_router(simulator_router)
    app.state.engine = db_engine
    app.state.conversation_engine = conversations
    return app

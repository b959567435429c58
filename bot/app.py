"""The composition root: settings → backend → the FastAPI app with every channel mounted."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from backend.api.app import create_app
from backend.runtime import Runtime
from backend.settings import Settings, get_settings
from backend.usecases.operations import open_backend
from bot.adapters import mount_channels
from bot.chatbot import Chatbot
from bot.console.web import router as simulator_router
from bot.inbox import run_in_app

logger = logging.getLogger(__name__)


def build_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """The whole service as one ASGI app: staff API, dashboard, Open311, chat webhooks, simulator."""
    settings = settings or get_settings()
    backend = open_backend(settings, runtime=runtime)
    app = create_app(backend.runtime, backend.session_factory)
    conversations = Chatbot(backend.runtime, backend.session_factory)
    mount_channels(app, backend.runtime, backend.session_factory, conversations)
    app.include_router(simulator_router)
    app.state.conversation_engine = conversations
    run_in_app(app, backend.session_factory, conversations, settings)
    return app

"""The composition root: settings → backend → the FastAPI app with every channel mounted."""

from __future__ import annotations

import gc
import logging

from fastapi import FastAPI

from backend.api.app import create_app
from backend.runtime import Runtime
from backend.settings import Settings, get_settings
from backend.texts import catalogue
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


def serve_app() -> FastAPI:
    """build_app for a server process (`gridbot serve`'s uvicorn factory), its start-up heap settled."""
    app = build_app()
    settle_heap()
    return app


def settle_heap() -> None:
    """Take what a long-running process built at start-up (the model, the city, SQLAlchemy's mappers, the text
    catalogue: about 300,000 objects) out of the garbage collector's sight. Every full collection walked them all:
    about 150 ms with the cores busy, a pause every request in flight waited out. Objects made later are collected
    as before. The catalogue is parsed here (0.3 s of YAML) if nothing has yet, not in a processor's first turn."""
    catalogue()
    gc.collect()
    gc.freeze()

"""The FastAPI application: staff API, health, and the error mapping every route shares."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from backend.api.docs import install_docs
from backend.api.routes import admin, auth, desk, geo, privacy, stats, tickets
from backend.dashboard import include_dashboard
from backend.domain.errors import DomainError, GuardFailed, InvalidTransition, NotFound, PermissionDenied
from backend.runtime import Runtime
from backend.services.attachments import TooLarge
from backend.texts import catalogue

logger = logging.getLogger(__name__)

_STATUS = {NotFound: 404, PermissionDenied: 403, InvalidTransition: 409, TooLarge: 413, GuardFailed: 422}


class BodyLimit:
    """Refuse bodies over the configured size before reading them (413).

    A plain ASGI middleware: starlette's BaseHTTPMiddleware runs every request through an extra task and
    memory streams, a cost each webhook acknowledgement paid.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
            if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
                await JSONResponse({"detail": "请求体过大"}, status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class CityRefresh:
    """Before a request, load the city `gridbot import-city` installed if it changed (checked once a second)."""

    def __init__(self, app: Any, runtime: Runtime) -> None:
        self.app, self.runtime = app, runtime

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.runtime.refresh_city()
        await self.app(scope, receive, send)


def create_app(runtime: Runtime, session_factory: sessionmaker[Session]) -> FastAPI:
    """Build the app around an already-composed runtime and session factory."""
    app = FastAPI(
        title="gridbot",
        version="0.1.0",
        description="网格化治理 — tickets, routing, SLA and escalation for a city's grid system.",
        docs_url=None,  # served by install_docs from vendored assets (no CDN)
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.session_factory = session_factory
    catalogue()  # parsed now (0.3 s of YAML), not inside the first request that needs a text
    app.add_middleware(BodyLimit, max_bytes=runtime.settings.request_max_bytes)
    app.add_middleware(CityRefresh, runtime=runtime)

    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        status = next((c for cls, c in _STATUS.items() if isinstance(exc, cls)), 400)
        return JSONResponse({"detail": exc.message, "error": exc.kind, "key": exc.code}, status_code=status)

    @app.exception_handler(OverflowError)  # SQLite's form of the same mistake
    @app.exception_handler(DataError)
    async def _bad_value(_request: Request, exc: Exception) -> JSONResponse:
        # A value the database cannot hold (e.g. an integer out of range) is the client's mistake.
        return JSONResponse({"detail": "参数取值超出范围"}, status_code=422)

    @app.exception_handler(OperationalError)
    async def _db_down(_request: Request, exc: OperationalError) -> JSONResponse:
        logger.error("database unavailable: %s", exc.__class__.__name__)
        return JSONResponse({"detail": "数据库暂时不可用，请稍后再试"}, status_code=503, headers={"Retry-After": "5"})

    @app.get("/health", tags=["health"])
    def health() -> JSONResponse:
        """Liveness and database reachability."""
        try:
            with session_factory() as session:
                session.execute(text("SELECT 1"))
        except OperationalError:
            return JSONResponse({"status": "degraded", "database": "down"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "up", "model": runtime.classifier is not None})

    for router in (auth.router, tickets.router, desk.router, geo.router, stats.router, admin.router, privacy.router):
        app.include_router(router)
    install_docs(app)
    include_dashboard(app)
    return app

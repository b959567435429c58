"""The operations-centre dashboard (一屏观全域): pages in Chinese or English for dispatchers, supervisors, admins."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from backend.dashboard import alarms, desk, lang, live, maproutes, privacy, public, staffpicker
from backend.dashboard.routes import router

STATIC_DIR = Path(__file__).parent / "static"


def include_dashboard(app: FastAPI) -> None:
    """Add the dashboard, its static files, Open311 GeoReport v2 and Prometheus /metrics to an app."""
    from backend.api.metrics import install_metrics
    from backend.api.routes import open311

    app.add_middleware(lang.RememberLang)
    app.include_router(router)
    app.include_router(staffpicker.router)
    app.include_router(alarms.router)
    app.include_router(desk.router)
    app.include_router(maproutes.router)
    app.include_router(live.router)
    app.include_router(privacy.router)
    app.include_router(public.router)
    app.include_router(open311.router)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
    install_metrics(app)

    @app.get("/dashboard", include_in_schema=False)
    def _dashboard_root() -> RedirectResponse:
        return RedirectResponse("/dashboard/", status_code=307)


__all__ = ["include_dashboard", "router"]

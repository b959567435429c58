"""Prometheus metrics at /metrics: HTTP requests, tickets by status and light, outbox backlog, classifier latency.

Each app gets its own CollectorRegistry (two apps in one process, as in tests, never clash). Ticket and
outbox figures are read from the database at scrape time by a custom collector, so they are always
current and cost nothing between scrapes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.db.models import Notification, Ticket, TicketEvent
from backend.domain.tickets import OPEN_STATUSES
from backend.domain.triage import DeskReason
from backend.ports import Classifier, Prediction
from backend.services.desk import on_desk

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


class Metrics:
    """The metric objects of one app."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "gridbot_http_requests", "HTTP requests handled", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "gridbot_http_request_duration_seconds", "HTTP request latency", ["method", "route"], registry=registry
        )
        self.classifier = Histogram(
            "gridbot_classifier_latency_seconds",
            "Time of one classifier prediction",
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )


class DatabaseCollector(Collector):
    """Tickets by status and light, and the outbox backlog, read at scrape time."""

    def __init__(self, session_factory: sessionmaker[Session], now: Callable[[], datetime]) -> None:
        self.session_factory = session_factory
        self.now = now

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """Yield the database gauges (nothing if the database is unreachable)."""
        try:
            with self.session_factory() as session:
                by_status = session.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).all()
                open_ = [s.value for s in OPEN_STATUSES]
                by_light = session.execute(
                    select(Ticket.light, func.count()).where(Ticket.status.in_(open_)).group_by(Ticket.light)
                ).all()
                outbox = session.execute(
                    select(Notification.status, func.count(), func.min(Notification.created_at)).group_by(
                        Notification.status
                    )
                ).all()
                desk_rows = session.execute(
                    select(Ticket.desk_reason, func.count()).where(on_desk()).group_by(Ticket.desk_reason)
                ).all()
                swept = session.scalar(
                    select(func.count())
                    .select_from(TicketEvent)
                    .where(TicketEvent.action == "to_desk", TicketEvent.note == DeskReason.unowned.value)
                )
        except SQLAlchemyError as exc:
            logger.warning("metrics: database unavailable (%s)", exc.__class__.__name__)
            return
        tickets = GaugeMetricFamily("gridbot_tickets", "Tickets by status", labels=["status"])
        for status, n in by_status:
            tickets.add_metric([status], n)
        yield tickets
        lights = GaugeMetricFamily("gridbot_open_tickets_by_light", "Open tickets by warning light", labels=["light"])
        for light, n in by_light:
            lights.add_metric([light], n)
        yield lights
        backlog = GaugeMetricFamily("gridbot_outbox_notifications", "Outbox notifications by status", labels=["status"])
        oldest = GaugeMetricFamily("gridbot_outbox_oldest_pending_seconds", "Age of the oldest pending notification")
        pending_age = 0.0
        for status, n, first in outbox:
            backlog.add_metric([status], n)
            if status == "pending" and first is not None:
                pending_age = max(0.0, (self.now() - first).total_seconds())
        oldest.add_metric([], pending_age)
        yield backlog
        yield oldest
        waiting = GaugeMetricFamily(
            "gridbot_desk_tickets", "Reports waiting at a triage desk, by reason", labels=["reason"]
        )
        for reason, n in desk_rows:
            waiting.add_metric([reason or ""], n)
        yield waiting
        yield CounterMetricFamily(
            "gridbot_unowned_swept", "Reports the sweep found without an owner and put on the district desk", swept or 0
        )


class TimedClassifier:
    """A classifier that records each prediction's latency; everything else passes through."""

    def __init__(self, inner: Classifier, histogram: Histogram) -> None:
        self.inner = inner
        self.histogram = histogram

    def predict(self, text: str) -> Prediction:
        """Predict with the wrapped classifier, timing the call."""
        start = time.perf_counter()
        try:
            return self.inner.predict(text)
        finally:
            self.histogram.observe(time.perf_counter() - start)

    def swapped(self, inner: Classifier) -> Classifier:
        """The same timing around a newly activated model."""
        return TimedClassifier(inner, self.histogram)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class RequestMetrics:
    """ASGI middleware counting requests by method, route template and status, with latency."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            # The route template, never the raw path: ticket numbers would explode the label set.
            path = getattr(route, "path", None) or ("static" if scope["path"].startswith("/static") else "unmatched")
            self.metrics.requests.labels(scope["method"], path, str(status)).inc()
            self.metrics.latency.labels(scope["method"], path).observe(time.perf_counter() - start)


@router.get("/metrics", include_in_schema=False)
def metrics_endpoint(request: Request) -> Response:
    """The Prometheus text exposition of this app's registry."""
    registry: CollectorRegistry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def install_metrics(app: FastAPI) -> Metrics:
    """Create the app's registry, count its requests, time its classifier and serve /metrics."""
    metrics = Metrics(CollectorRegistry())
    runtime = app.state.runtime
    # Outbox rows are stamped with the wall clock (not the runtime's clock), so their age is too.
    metrics.registry.register(DatabaseCollector(app.state.session_factory, lambda: datetime.now(UTC)))
    app.state.metrics = metrics
    if runtime.classifier is not None:
        inner = runtime.classifier.inner if isinstance(runtime.classifier, TimedClassifier) else runtime.classifier
        runtime.classifier = TimedClassifier(inner, metrics.classifier)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.include_router(router)
    return metrics

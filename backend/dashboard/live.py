"""Live operations centre: server-sent events tell open pages when tickets changed, and which are red.

One stream per open page (`GET /dashboard/live`). Every LIVE_POLL_SECONDS the stream reads one cheap
number — the newest audit event (every move, light and escalation writes one) — and only when it moved
computes the viewer's counters and red tickets and sends a `pulse`. The page then refreshes the queue,
the map and the counters itself (static/live.js) and raises the red-light banner until acknowledged.
Works across processes (the SLA job and the API write the same table); nothing is kept in memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from backend.dashboard.stats import OPEN
from backend.dashboard.web import DashboardUser
from backend.db.models import Category, Ticket, TicketEvent
from backend.services.actors import ActorContext
from backend.services.queries import TicketFilter, filtered

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
LIVE_POLL_SECONDS = 0.5
STREAM_SECONDS = 300.0  # the browser's EventSource reconnects by itself after this
MAX_RED = 20


def change_mark(session: Session) -> tuple[int, int]:
    """A mark that moves whenever any ticket is created or changed (newest event id, newest ticket id)."""
    event = session.scalar(select(func.max(TicketEvent.id))) or 0
    ticket = session.scalar(select(func.max(Ticket.id))) or 0
    return int(event), int(ticket)


def pulse(session: Session, actor: ActorContext, areas: dict[str, str]) -> dict[str, Any]:
    """The viewer's live counters and open red or urgent tickets (newest first)."""
    base = filtered(actor, TicketFilter(status=OPEN)).subquery()
    open_total, red_total, urgent_total = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((base.c.light == "red", 1), else_=0)), 0),
            func.coalesce(func.sum(case((base.c.priority == "urgent", 1), else_=0)), 0),
        )
    ).one()
    alarm_rows = session.execute(
        select(base.c.number, base.c.light, base.c.priority, base.c.grid_code, Category.name)
        .outerjoin(Category, Category.code == base.c.category_code)
        .where((base.c.light == "red") | (base.c.priority == "urgent"))
        .order_by(base.c.id.desc())
        .limit(MAX_RED)
    ).all()
    return {
        "open_total": int(open_total),
        "red_total": int(red_total),
        "urgent_total": int(urgent_total),
        "alarms": [
            {
                "number": number,
                "red": light == "red",
                "urgent": priority == "urgent",
                "category": category or "未分类",
                "area": areas.get(grid or "", "未定位"),
            }
            for number, light, priority, grid, category in alarm_rows
        ],
    }


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.get("/live")
async def live(request: Request, actor: DashboardUser) -> StreamingResponse:
    """The event stream of this viewer: a `pulse` now and after every change in the tickets."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    runtime = request.app.state.runtime
    loop = asyncio.get_running_loop()

    def read(mark: tuple[int, int] | None) -> tuple[tuple[int, int], dict[str, Any] | None]:
        with factory() as session:
            now = change_mark(session)
            if now == mark:
                return now, None
            areas = {a.code: a.name for a in runtime.city.areas.values()}
            return now, {"mark": f"{now[0]}.{now[1]}", **pulse(session, actor, areas)}

    async def stream() -> AsyncIterator[str]:
        mark: tuple[int, int] | None = None
        until = loop.time() + STREAM_SECONDS
        yield "retry: 1000\n\n"
        while loop.time() < until and not await request.is_disconnected():
            mark, data = await run_in_threadpool(read, mark)
            if data is not None:
                yield _sse("pulse", data)
            await asyncio.sleep(LIVE_POLL_SECONDS)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

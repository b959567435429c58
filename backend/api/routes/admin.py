"""Admin-only endpoints: one-time codes that bind staff chat accounts, the outbox dead-letter list and the
inbox's parked messages."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from backend.api.deps import CurrentStaff, RuntimeDep, SessionDep
from backend.domain.roles import Role
from backend.services.actors import ActorContext
from backend.services.binding import issue_bind_code
from backend.services.public_report import queue_public_reports
from backend.usecases import inbox
from backend.workers.outbox import dead_letters, requeue_dead

router = APIRouter(prefix="/api/admin", tags=["admin"])


class BindCodePublic(BaseModel):
    """A one-time code to send to the staff member, and when it stops working."""

    staff_code: str
    code: str
    expires_at: datetime


@router.post("/staff/{code}/bind-code", response_model=BindCodePublic, status_code=status.HTTP_201_CREATED)
def create_bind_code(
    code: str,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: CurrentStaff,
    ttl_hours: float = Query(24, gt=0, le=24 * 7),
) -> BindCodePublic:
    """Issue a one-time code; the staff member sends 绑定 <code> (or /bind <code>) to the bot."""
    if actor.role is not Role.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "只有管理员可以签发绑定码")
    row = issue_bind_code(session, code, runtime.clock.now(), timedelta(hours=ttl_hours))
    session.commit()
    return BindCodePublic(staff_code=code, code=row.code, expires_at=row.expires_at)


class DeadLetterPublic(BaseModel):
    """A notification that could not be delivered, and why."""

    id: int
    key: str
    kind: str
    channel: str
    ticket_id: int | None
    attempts: int
    reason: str | None
    created_at: datetime
    last_attempt_at: datetime | None


class RequeueIn(BaseModel):
    """Dead letters to try again (e.g. after the user unblocked the bot)."""

    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=1000)


def _require_admin(actor: ActorContext) -> None:
    if actor.role is not Role.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "只有管理员可以查看和处理投递失败的消息")


@router.get("/dead-letters", response_model=list[DeadLetterPublic])
def list_dead_letters(
    session: SessionDep,
    actor: CurrentStaff,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> list[DeadLetterPublic]:
    """Notifications that could not be delivered, newest first, with the reason."""
    _require_admin(actor)
    return [
        DeadLetterPublic(
            id=dead.id,
            key=dead.key,
            kind=dead.kind,
            channel=dead.channel,
            ticket_id=dead.ticket_id,
            attempts=dead.attempts,
            reason=dead.reason,
            created_at=dead.created_at,
            last_attempt_at=dead.last_attempt_at,
        )
        for dead in dead_letters(session, limit=limit, offset=offset)
    ]


@router.post("/dead-letters/requeue")
def requeue_dead_letters(body: RequeueIn, session: SessionDep, actor: CurrentStaff) -> dict[str, int]:
    """Put dead letters back in the outbox queue."""
    _require_admin(actor)
    count = requeue_dead(session, body.ids)
    session.commit()
    return {"requeued": count}


class ParkedPublic(BaseModel):
    """An inbound chat message whose turn kept failing: kept, not dropped, with the last error."""

    id: int
    channel: str
    sender: str
    attempts: int
    error: str | None
    received_at: datetime


@router.get("/inbox/parked", response_model=list[ParkedPublic])
def list_parked_messages(
    session: SessionDep,
    actor: CurrentStaff,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> list[ParkedPublic]:
    """Inbound messages the inbox processor parked after its retries, newest first."""
    _require_admin(actor)
    return [ParkedPublic(**dataclasses.asdict(row)) for row in inbox.parked(session, limit=limit, offset=offset)]


@router.post("/inbox/parked/requeue")
def requeue_parked_messages(body: RequeueIn, session: SessionDep, actor: CurrentStaff) -> dict[str, int]:
    """Give parked inbound messages back to the inbox processor."""
    _require_admin(actor)
    count = inbox.requeue(session, body.ids)
    session.commit()
    return {"requeued": count}


@router.post("/public-reports/send")
def send_public_reports(session: SessionDep, runtime: RuntimeDep, actor: CurrentStaff) -> dict[str, int]:
    """Queue this week's 向群众汇报 now to every subscriber who has not had it (the worker does it daily)."""
    if actor.role is not Role.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "只有管理员可以推送向群众汇报")
    queued = queue_public_reports(session, runtime, runtime.clock.now())
    session.commit()
    return {"queued": queued}

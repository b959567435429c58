"""The retention job: anonymise finished tickets, delete old photos and chat transcripts, in batches.

Every step selects only what is still there to remove (anonymised_at IS NULL, rows older than a cut-off),
so a rerun, or a run cut short and run again, does the remaining work and nothing twice. Each batch is
committed on its own so a run over a large backlog holds no long locks. Counts, times, categories, grids,
departments and the audit trail's moves stay: statistics and 考评 read only those.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import ColumnElement, and_, case, delete, func, null, or_, select, update
from sqlalchemy.orm import Session

from backend.db.fixed_sets import in_fixed
from backend.db.models import (
    Attachment,
    CategoryCorrection,
    ConversationState,
    InboundMessage,
    InboxMessage,
    Notification,
    NotificationAttempt,
    Rating,
    RetentionRun,
    Ticket,
    TicketEvent,
    TicketFollower,
)
from backend.domain.privacy import FINISHED_STATUSES, RetentionCutoffs, RetentionPolicy
from backend.domain.roles import Role

logger = logging.getLogger(__name__)


def finished_before(cutoff: datetime) -> ColumnElement[bool]:
    """Tickets finished (closed, cancelled, merged) before a moment."""
    return and_(
        in_fixed(Ticket.status, FINISHED_STATUSES),
        func.coalesce(Ticket.closed_at, Ticket.updated_at) < cutoff,
    )


def anonymise_tickets(session: Session, which: ColumnElement[bool], now: datetime, *, upload_dir: Path) -> int:
    """Remove the personal fields of the tickets `which` selects and everything repeating them; how many.

    Kept: number, category, grid and areas, department, tier, status, priority, the times and every move
    of the audit trail (who of the staff, when, from → to). Gone: the text, the place words and pin, the
    reporter, notes, rating comments, photos, followers, category corrections and sent messages.
    The caller commits. Related rows are found through the tickets just marked, so no id list is sent.
    """
    result = session.execute(
        update(Ticket)
        .where(which, Ticket.anonymised_at.is_(None))
        .values(
            text="",
            location_text=None,
            lon=None,
            lat=None,
            reporter_id=None,
            anonymised_at=now,
            updated_at=Ticket.updated_at,  # not "now": handling times stay what they were
        )
        .execution_options(synchronize_session=False)
    )
    done = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if not done:
        return 0
    ids = select(Ticket.id).where(which, Ticket.anonymised_at == now).scalar_subquery()
    resident = TicketEvent.actor_role == Role.resident.value
    session.execute(
        update(TicketEvent)
        .where(
            TicketEvent.ticket_id.in_(ids),
            or_(TicketEvent.note.is_not(None), and_(resident, TicketEvent.actor_id.is_not(None))),
        )
        .values(note=None, actor_id=case((resident, None), else_=TicketEvent.actor_id))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Rating)
        .where(Rating.ticket_id.in_(ids))
        .values(comment=None, person_id=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(TicketFollower).where(TicketFollower.ticket_id.in_(ids)))
    session.execute(delete(CategoryCorrection).where(CategoryCorrection.ticket_id.in_(ids)))
    _delete_notifications(session, Notification.ticket_id.in_(ids))
    _delete_photos(session, Attachment.ticket_id.in_(ids), upload_dir=upload_dir)
    return done


def _delete_notifications(session: Session, where: ColumnElement[bool]) -> int:
    ids = select(Notification.id).where(where).scalar_subquery()
    session.execute(delete(NotificationAttempt).where(NotificationAttempt.notification_id.in_(ids)))
    result = session.execute(delete(Notification).where(where))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _delete_photos(session: Session, where: ColumnElement[bool], *, upload_dir: Path) -> int:
    """Delete attachment rows, then each file no other row still uses (files are content-addressed)."""
    paths = set(session.scalars(select(Attachment.path).where(where)))
    if not paths:
        return 0
    result = session.execute(delete(Attachment).where(where))
    still_used = set(session.scalars(select(Attachment.path).where(Attachment.path.in_(paths))))
    for name in paths - still_used:
        (upload_dir / name).unlink(missing_ok=True)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def run_retention(
    session: Session, policy: RetentionPolicy, now: datetime, *, upload_dir: Path, batch_size: int = 5000
) -> RetentionRun:
    """Apply the retention periods once, committing batch by batch; the run's record (committed)."""
    cut = policy.cutoffs(now)
    run = RetentionRun(started_at=now, cutoffs={k: v.isoformat() for k, v in _cutoff_items(cut)}, counts={})
    session.add(run)
    session.commit()
    counts = {
        "tickets_anonymised": _anonymise_finished(session, cut.tickets, now, upload_dir=upload_dir, batch=batch_size),
        "photos_deleted": _delete_old_photos(session, cut.photos, upload_dir=upload_dir, batch=batch_size),
    }
    counts.update(_delete_transcripts(session, cut.transcripts))
    counts["unused_files_deleted"] = _delete_unused_files(session, cut.transcripts, upload_dir=upload_dir)
    run.counts, run.finished_at = counts, now
    session.commit()
    logger.info("retention run %s: %s", run.id, counts)
    return run


def _cutoff_items(cut: RetentionCutoffs) -> list[tuple[str, datetime]]:
    return [("tickets", cut.tickets), ("photos", cut.photos), ("transcripts", cut.transcripts)]


def _anonymise_finished(session: Session, cutoff: datetime, now: datetime, *, upload_dir: Path, batch: int) -> int:
    done, last_id = 0, 0
    while True:
        ids = list(
            session.scalars(
                select(Ticket.id)
                .where(Ticket.id > last_id, Ticket.anonymised_at.is_(None), finished_before(cutoff))
                .order_by(Ticket.id)
                .limit(batch)
            )
        )
        if not ids:
            return done
        # The tickets between the first and last id that qualify are exactly this batch.
        which = and_(Ticket.id.between(ids[0], ids[-1]), finished_before(cutoff))
        done += anonymise_tickets(session, which, now, upload_dir=upload_dir)
        session.commit()
        last_id = ids[-1]


def _delete_old_photos(session: Session, cutoff: datetime, *, upload_dir: Path, batch: int) -> int:
    done = 0
    while True:
        ids = list(
            session.scalars(
                select(Attachment.id)
                .join(Ticket, Ticket.id == Attachment.ticket_id)
                .where(finished_before(cutoff))
                .order_by(Attachment.id)
                .limit(batch)
            )
        )
        if not ids:
            return done
        done += _delete_photos(session, Attachment.id.in_(ids), upload_dir=upload_dir)
        session.commit()


def _delete_unused_files(session: Session, cutoff: datetime, *, upload_dir: Path) -> int:
    """Photos sent for a report that never came (or left behind), older than the transcripts' cut-off."""
    if not upload_dir.is_dir():
        return 0
    used = set(session.scalars(select(Attachment.path).distinct()))
    gone = 0
    for path in upload_dir.iterdir():
        if path.is_file() and path.name not in used and path.stat().st_mtime < cutoff.timestamp():
            path.unlink(missing_ok=True)
            gone += 1
    return gone


# Outbox rows the worker is done with: sent, given up, refused for good and replaced by a fallback row, or
# folded into another row's message (backend/workers/outbox.py fold_held_back).
_FINISHED_MESSAGES = ("sent", "dead", "fallback", "folded")


def _delete_transcripts(session: Session, cutoff: datetime) -> dict[str, int]:
    """Dialogue states idle since the cut-off, messages sent (or given up) before it, stored replies, and
    inbox rows whose turn has run."""
    states = session.execute(delete(ConversationState).where(ConversationState.updated_at < cutoff))
    sent = _delete_notifications(
        session, and_(Notification.status.in_(_FINISHED_MESSAGES), Notification.created_at < cutoff)
    )
    replies = session.execute(
        update(InboundMessage)
        .where(InboundMessage.created_at < cutoff, InboundMessage.reply.is_not(null()))
        .values(reply=null())
        .execution_options(synchronize_session=False)
    )
    # The durable inbox keeps what residents sent until the turn ran; finished (or parked) rows go with the rest.
    inbox = session.execute(
        delete(InboxMessage).where(InboxMessage.status != "pending", InboxMessage.received_at < cutoff)
    )
    session.commit()
    return {
        "dialogues_deleted": int(states.rowcount or 0),  # type: ignore[attr-defined]
        "messages_deleted": sent,
        "replies_cleared": int(replies.rowcount or 0),  # type: ignore[attr-defined]
        "inbox_deleted": int(inbox.rowcount or 0),  # type: ignore[attr-defined]
    }

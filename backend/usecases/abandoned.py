"""Reports a resident stopped answering about: stored and handed to the triage desk, never lost.

The report dialogue asks before a report exists (category, place, home). While it waits for the answer it marks
the dialogue state with `AWAITING` (what it asked) and keeps the report in the state's `data`: `assessment`
(an `Assessment` as JSON), and when given `lon`, `lat`, `location_text`/`label` and stashed `photos`. No answer
within `triage_answer_minutes`: the report is stored, a person decides it at the desk, the resident is told the
ticket number, and the dialogue ends.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import ConversationState, Person, Ticket
from backend.domain.notifications import NoticeKind
from backend.services import notify
from backend.services.attachments import store_photo
from backend.services.intake import Assessment, Placement, ReportIn, create_ticket
from backend.services.people import identity_of, resident_actor
from backend.usecases import Backend
from backend.usecases.conversation import STICKY_KEYS

logger = logging.getLogger(__name__)

AWAITING = "awaiting_answer"  # the state key: what the dialogue asked ("category", "place", "home", "merge")


def desk_unanswered(backend: Backend, *, batch: int = 200) -> int:
    """Store every report whose question went unanswered for too long; the triage gate sends it to the desk."""
    runtime = backend.runtime
    now = runtime.clock.now()
    cutoff = now - timedelta(minutes=runtime.settings.triage_answer_minutes)
    stored = 0
    with backend.session_factory() as session:
        rows = session.scalars(
            select(ConversationState)
            .where(ConversationState.updated_at <= cutoff, ConversationState.state[AWAITING].as_string().is_not(None))
            .order_by(ConversationState.updated_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            state = dict(row.state or {})
            ticket = _store(session, backend, row, state)
            if ticket is None:  # nothing to store (another dialogue took over): just stop waiting
                state.pop(AWAITING, None)
                row.state = state
                continue
            row.state = {k: state[k] for k in STICKY_KEYS if k in state} | {"last_ticket": ticket.number}
            row.updated_at = now
            stored += 1
        session.commit()
    if stored:
        logger.info("unanswered dialogues: %d report(s) stored and handed to the triage desk", stored)
    return stored


def _store(session: Session, backend: Backend, row: ConversationState, state: dict[str, Any]) -> Ticket | None:
    """The report of an unanswered dialogue as a ticket (routed by the gate), its photos, and the resident told."""
    runtime = backend.runtime
    data = state.get("data") or {}
    ident = identity_of(session, channel=row.channel, external_id=row.external_id)
    person = session.get(Person, ident.person_id) if ident is not None else None
    if person is None or person.erased_at is not None or not data.get("assessment"):
        return None
    assessment = Assessment.from_json(data["assessment"])
    if assessment.place.source == "home":
        assessment = assessment.with_place(Placement())  # an unconfirmed home is no place: the desk finds it
    pinned = data.get("lon") is not None
    ticket = create_ticket(
        session,
        runtime,
        ReportIn(
            text=assessment.text,
            channel=row.channel,
            reporter_id=person.id,
            lon=data.get("lon"),
            lat=data.get("lat"),
            location_text=data.get("location_text")
            or data.get("label")
            or (None if pinned else assessment.place_words),
            note="反映人未回复追问，转分拨台",
        ),
        assessment=assessment,
        actor=resident_actor(person),
    )
    for name in data.get("photos", []):
        path = runtime.settings.upload_dir / str(name)
        if path.exists():
            store_photo(
                session,
                upload_dir=runtime.settings.upload_dir,
                ticket=ticket,
                data=path.read_bytes(),
                stage="report",
                uploaded_by=person.id,
                max_bytes=runtime.settings.upload_max_bytes,
            )
    notify.notify_person(
        session,
        person=person,
        kind=NoticeKind.registered,
        key=f"t{ticket.id}:registered",
        ticket=ticket,
        payload=notify.ticket_payload(ticket),
        channel=row.channel,
    )
    return ticket

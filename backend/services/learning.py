"""What the city's history teaches the classifier: messages with the category people settled on.

Two sources, one item per ticket: a ticket a person categorised (a dispatcher's correction or a triage desk
decision, both kept as CategoryCorrection rows; the newest one wins), labelled when that was decided; and a
finished ticket nobody corrected, whose category the handling department accepted, labelled when it was
finished. Anonymised tickets (retention, erasure) teach nothing: their text is gone and must stay gone.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import CategoryCorrection, Ticket
from nlp.retrain import Labelled

FINISHED = ("resolved", "verified", "closed")


def labelled_history(session: Session) -> list[Labelled]:
    """The history to retrain on, oldest first."""
    items: dict[int, Labelled] = {}
    corrections = session.execute(
        select(
            CategoryCorrection.ticket_id, Ticket.text, CategoryCorrection.new_category, CategoryCorrection.created_at
        )
        .join(Ticket, Ticket.id == CategoryCorrection.ticket_id)
        .where(Ticket.anonymised_at.is_(None), Ticket.text != "")
        .order_by(CategoryCorrection.created_at, CategoryCorrection.id)
    )
    for ticket_id, text, label, at in corrections:
        items[ticket_id] = Labelled(text=text, label=label, at=at, source="correction")
    finished = session.execute(
        select(Ticket.id, Ticket.text, Ticket.category_code, Ticket.resolved_at, Ticket.closed_at, Ticket.updated_at)
        .where(
            Ticket.status.in_(FINISHED),
            Ticket.category_code.is_not(None),
            Ticket.anonymised_at.is_(None),
            Ticket.text != "",
        )
        .order_by(Ticket.id)
    )
    for ticket_id, text, category, resolved_at, closed_at, updated_at in finished:
        if ticket_id not in items and category is not None:
            items[ticket_id] = Labelled(
                text=text, label=category, at=resolved_at or closed_at or updated_at, source="ticket"
            )
    return sorted(items.values(), key=lambda item: item.at)

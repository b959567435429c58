"""Which photos the public may see through Open311: only a handler's photo of the finished work (stage
"resolved", stored without metadata) of a ticket not anonymised, behind an unguessable signed URL.
A resident's own photos (report stage) and on-site or check photos are never published."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Attachment, Ticket
from backend.domain.privacy import PUBLIC_PHOTO_STAGES


def media_token(attachment_id: int, sha256: str, secret: str) -> str:
    """The signature that makes a photo's public path unguessable."""
    message = f"open311-media:{attachment_id}:{sha256}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def public_photos(session: Session, ticket_ids: Iterable[int], secret: str) -> dict[int, str]:
    """Ticket id → the public media path ("{id}-{token}") of its first publishable photo."""
    ids = list(ticket_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Attachment.ticket_id, Attachment.id, Attachment.sha256)
        .join(Ticket, Ticket.id == Attachment.ticket_id)
        .where(
            Attachment.ticket_id.in_(ids),
            Attachment.stage.in_(PUBLIC_PHOTO_STAGES),
            Ticket.anonymised_at.is_(None),
        )
        .order_by(Attachment.id)
    ).all()
    found: dict[int, str] = {}
    for ticket_id, att_id, digest in rows:
        found.setdefault(ticket_id, f"{att_id}-{media_token(att_id, digest, secret)}")
    return found


def public_photo(session: Session, key: str, secret: str) -> Attachment | None:
    """The photo a public media path names, if it is publishable and the signature matches."""
    att_id, _, token = key.partition("-")
    if not att_id.isdigit() or len(att_id) > 18 or not token:
        return None
    att = session.get(Attachment, int(att_id))
    if att is None or att.stage not in PUBLIC_PHOTO_STAGES or att.ticket.anonymised_at is not None:
        return None
    return att if hmac.compare_digest(token, media_token(att.id, att.sha256, secret)) else None

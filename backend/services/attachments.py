"""Photos: type sniffed from the bytes, size limited, EXIF stripped, stored content-addressed on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path

import filetype
from sqlalchemy.orm import Session

from backend.db.models import Attachment, Ticket
from backend.domain.errors import GuardFailed
from backend.services.photo_metadata import CleanPhoto, clean_photo

ALLOWED_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}


class TooLarge(GuardFailed):
    """The upload is bigger than the configured limit."""

    kind = "too_large"


def check_photo(data: bytes, *, max_bytes: int) -> str:
    """The sniffed MIME type of an acceptable photo; raises GuardFailed or TooLarge otherwise."""
    if len(data) > max_bytes:
        raise TooLarge("error.photo_too_large", max_mb=max_bytes // (1024 * 1024))
    if not data:
        raise GuardFailed("error.photo_empty")
    kind = filetype.guess(data[:262])
    if kind is None or kind.mime not in ALLOWED_TYPES:
        raise GuardFailed("error.photo_type")
    return str(kind.mime)


def accept_photo(data: bytes, *, upload_dir: Path, max_bytes: int) -> tuple[str, str, CleanPhoto]:
    """Check a photo, strip its metadata and write it once under its digest: (file name, type, photo)."""
    mime = check_photo(data, max_bytes=max_bytes)
    photo = clean_photo(data, mime)
    name = f"{hashlib.sha256(photo.data).hexdigest()}.{ALLOWED_TYPES[mime]}"
    upload_dir.mkdir(parents=True, exist_ok=True)
    path = upload_dir / name
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(photo.data)
        tmp.replace(path)
    return name, mime, photo


def store_photo(
    session: Session,
    *,
    upload_dir: Path,
    ticket: Ticket,
    data: bytes,
    stage: str,
    uploaded_by: int | None,
    max_bytes: int,
) -> Attachment:
    """Check and store a photo for a ticket (does not commit)."""
    name, mime, photo = accept_photo(data, upload_dir=upload_dir, max_bytes=max_bytes)
    att = Attachment(
        ticket=ticket,
        stage=stage,
        content_type=mime,
        size=len(photo.data),
        sha256=name.split(".")[0],
        path=name,
        uploaded_by=uploaded_by,
    )
    session.add(att)
    session.flush()
    return att

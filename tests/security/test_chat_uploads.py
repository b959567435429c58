"""Photos sent in chat pass the same check as API uploads (backend/services/attachments.py:check_photo): the type
is sniffed from the bytes (JPEG, PNG, WebP, GIF) and the size is limited by GRIDBOT_UPLOAD_MAX_BYTES."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy.orm import Session, sessionmaker

from backend.runtime import Runtime
from bot.chatbot import Chatbot
from bot.messages import Inbound, InboundKind

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
    b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
LIMIT = 1024


@pytest.mark.parametrize(
    ("image", "accepted"),
    [
        (PNG, True),
        (b"%PDF-1.4 an invoice, not a photo", False),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", False),
        (PNG + b"\x00" * LIMIT, False),
    ],
)
def test_a_chat_photo_is_checked_by_type_and_size(
    runtime: Runtime, session_factory: sessionmaker[Session], image: bytes, accepted: bool
) -> None:
    small_uploads = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"upload_max_bytes": LIMIT})
    )
    chatbot = Chatbot(small_uploads, session_factory)
    chatbot.handle(Inbound("console", "photographer", InboundKind.text, text="小区门口的垃圾好几天没人清运了"))
    replies = chatbot.handle(Inbound("console", "photographer", InboundKind.image, image=image))
    stored = list(small_uploads.settings.upload_dir.glob("*")) if small_uploads.settings.upload_dir.exists() else []
    assert bool(stored) is accepted, [r.text for r in replies]
    if not accepted:
        assert any("只接受" in (r.text or "") or "太大" in (r.text or "") for r in replies), [r.text for r in replies]

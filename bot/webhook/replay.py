"""Replay windows for the signed webhooks (WeChat OA and WeCom).

Both platforms sign `timestamp` and `nonce` into every request. A request whose timestamp is more than
`window` seconds from our wall clock is refused, so a captured request cannot be replayed later. Within the
window, WeChat's plain mode signs only (token, timestamp, nonce), not the body: a captured signature could
carry another body. So the first use of a (timestamp, nonce) is stored with a digest of its body, and the
same pair with a different body is refused. The same pair with the same body is the platform retrying;
it passes, and the first-delivery claim (bot/webhook/claims.py) answers it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from backend.usecases.channels import NonceUse, nonce_first_use

MAX_NONCE_LENGTH = 64


class ReplayGuard:
    """Checks the freshness of a signed request and, where the body is not signed, its nonce's first use."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        channel: str,
        *,
        window_seconds: int,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.session_factory = session_factory
        self.channel = channel
        self.window = window_seconds
        self.wall_clock = wall_clock

    def fresh(self, timestamp: str, nonce: str) -> bool:
        """True when the timestamp is an integer within the window of now and the nonce is plausible."""
        if not timestamp.isascii() or not timestamp.isdigit() or not 0 < len(nonce) <= MAX_NONCE_LENGTH:
            return False
        return abs(self.wall_clock() - int(timestamp)) <= self.window

    def use(self, timestamp: str, nonce: str, body: bytes) -> NonceUse:
        """This request's (timestamp, nonce) with its body digest, to record (the inbox records it with the
        message it stores, in one transaction)."""
        return NonceUse(
            channel=self.channel,
            timestamp=int(timestamp),
            nonce=nonce,
            body_sha256=hashlib.sha256(body).hexdigest(),
            at=datetime.fromtimestamp(self.wall_clock(), UTC),
        )

    def record(self, use: NonceUse) -> bool:
        """Record a request's (timestamp, nonce); False if it was used before with a different body."""
        return nonce_first_use(self.session_factory, use)

"""Per-sender rate limiting in chat: a GCRA token bucket kept in the sender's conversation state.

Kept in the database with the dialogue (not in process memory), so the limit holds across API processes
and restarts, and costs no extra query: the turn reads and writes that row anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

# The key of the limiter's value in the conversation state.
STATE_KEY = "throttle"


class Verdict(Enum):
    """What to do with a message: handle it, refuse it with a polite word, or refuse it silently."""

    handle = "handle"
    warn = "warn"  # the first refused message of a burst gets one reply
    drop = "drop"  # further ones get none, so a flood is not answered with a flood


@dataclass(frozen=True)
class SenderLimit:
    """`per_minute` messages a minute on average, up to `burst` at once."""

    per_minute: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def check(self, stored: dict[str, Any] | None, now: float) -> tuple[Verdict, dict[str, Any]]:
        """The verdict for a message arriving at `now` (epoch seconds) and the value to store back."""
        stored = stored or {}
        interval = 60.0 / self.per_minute
        tolerance = (self.burst - 1) * interval
        tat = max(float(stored.get("tat", now)), now)  # theoretical arrival time of the next message
        if tat - now > tolerance:
            verdict = Verdict.drop if stored.get("warned") else Verdict.warn
            return verdict, {"tat": tat, "warned": True}
        return Verdict.handle, {"tat": tat + interval, "warned": False}

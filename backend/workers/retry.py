"""What to do after a failed send: retry later (exponential backoff with jitter), fall back, or give up."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from backend.workers.channels import PermanentChannelError, TransientChannelError, fallback_is_due


class Outcome(StrEnum):
    """The outcome of one attempt, as recorded in NotificationAttempt.outcome."""

    SENT = "sent"
    RETRY = "retry"
    FALLBACK = "fallback"
    DEAD = "dead"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: base·factor^(n-1), capped, with 'equal jitter' (half fixed, half random)."""

    base_seconds: float = 2.0
    factor: float = 2.0
    cap_seconds: float = 15 * 60.0
    max_attempts: int = 10
    # Never wait longer than this for a platform's retry_after; beyond it the platform is misbehaving.
    max_retry_after: float = 3600.0

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt number `attempt + 1`, never less than the platform's retry_after."""
        draw = rng.uniform if rng is not None else random.uniform
        raw = min(self.cap_seconds, self.base_seconds * self.factor ** max(0, attempt - 1))
        jittered = raw / 2 + draw(0, raw / 2)
        if retry_after is not None and retry_after > 0:
            honoured = min(retry_after, self.max_retry_after)
            # A little jitter on top so a crowd told "retry after 5 s" does not come back in one burst.
            return max(jittered, honoured + draw(0, min(1.0, honoured * 0.1)))
        return jittered


@dataclass(frozen=True)
class Decision:
    """What the worker does with a failed attempt."""

    outcome: Outcome
    delay: float | None  # seconds until the next attempt, for RETRY
    reason: str


def decide(
    error: BaseException, attempt: int, policy: RetryPolicy, *, has_fallback: bool, rng: random.Random | None = None
) -> Decision:
    """Classify a send error: transient → retry (until max_attempts), blocked/window → fallback, else dead."""
    reason = describe(error)
    if isinstance(error, PermanentChannelError):
        if has_fallback and fallback_is_due(error):
            return Decision(Outcome.FALLBACK, None, reason)
        return Decision(Outcome.DEAD, None, reason)
    # Transient errors and unexpected exceptions (a renderer bug, a driver hiccup) are retried, not forever.
    if attempt >= policy.max_attempts:
        return Decision(Outcome.DEAD, None, f"gave up after {attempt} attempts: {reason}")
    retry_after = error.retry_after if isinstance(error, TransientChannelError) else None
    return Decision(Outcome.RETRY, policy.delay(attempt, retry_after, rng), reason)


def describe(error: BaseException) -> str:
    """A short, log-safe description of an error for last_error and the attempt log."""
    text = str(error) or error.__class__.__name__
    return f"{error.__class__.__name__}: {text}"[:500]

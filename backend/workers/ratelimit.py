"""Per-channel and per-recipient rate limits: token buckets kept as GCRA schedules.

`RateLimiter` keeps the schedules in this process (thread-safe); `SharedRateLimiter`
(backend/workers/sharedlimits.py) keeps them in the database, so the limits are exact across any number of
worker processes and machines. Both book with `reserve_many`, the decision itself is `book`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


# A sender that falls behind (its process short of CPU) gives a message that waited for its slot back to be
# booked again once it is more than its channel's allowance (`Rate.late_allowance`) past that slot, rather than
# send it onto the slots booked since, other workers' too. A channel's schedule is booked so that sends up to
# that late still keep its limit as the platform counts it.
MAX_LATENESS = 0.1
MIN_LATENESS = 0.02


@dataclass(frozen=True)
class Rate:
    """A token bucket: `per_second` tokens flow in, at most `burst` are stored."""

    per_second: float
    burst: float = 1.0

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError(f"a rate needs per_second > 0 and burst >= 1, got {self}")

    def max_in_window(self, seconds: float) -> float:
        """The most messages this bucket lets through in any window of the given length."""
        return self.burst + self.per_second * seconds

    def late_allowance(self) -> float | None:
        """How late after its slot a message of a channel with this limit may still go out: up to
        MAX_LATENESS, paid for with at most half the burst (`Schedule`). None when half the burst is less than
        MIN_LATENESS's worth of messages: too little to pay for any lateness a busy sender has, so the channel's
        messages go as booked however late (a limit far above what the workers can send, or a burst of one)."""
        allowance = min(MAX_LATENESS, (self.burst - 1.0) / (2.0 * self.per_second))
        return allowance if allowance >= MIN_LATENESS else None


@dataclass(frozen=True)
class ChannelLimits:
    """The limits of one channel: for the whole bot/account and for each recipient."""

    channel: Rate | None = None
    recipient: Rate | None = None


# Telegram Bot API FAQ: about 30 messages per second overall, no more than one per second to one chat.
# WeChat Official Account customer-service messages: the documented quota is 500,000 calls a day per account
# (~5.8/s on average; bursts allowed) and the API answers errcode 45047 when one user gets too many in a row;
# we allow 20/s per account with bursts of 20 and 1/s per user. WeCom application messages: at most 30 a minute
# to one member, and WeCom drops the rest without an error, so a member's bucket lets at most 2 + 0.45·60 = 29
# through in any minute (one to spare for a send that goes out after its slot).
DEFAULT_LIMITS: dict[str, ChannelLimits] = {
    "telegram": ChannelLimits(channel=Rate(30.0, 30.0), recipient=Rate(1.0, 1.0)),
    "wechat": ChannelLimits(channel=Rate(20.0, 20.0), recipient=Rate(1.0, 1.0)),
    "wechat_template": ChannelLimits(channel=Rate(20.0, 20.0), recipient=Rate(1.0, 3.0)),
    "wecom": ChannelLimits(channel=Rate(20.0, 20.0), recipient=Rate(0.45, 2.0)),
}


@dataclass(frozen=True)
class RateLimits:
    """The rate-limit configuration of a worker; `enabled=False` switches every limit off."""

    per_channel: Mapping[str, ChannelLimits] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    enabled: bool = True

    @classmethod
    def from_config(
        cls, overrides: Mapping[str, Mapping[str, Sequence[float] | None]] | None = None, *, enabled: bool = True
    ) -> RateLimits:
        """The defaults with per-channel overrides, e.g. {"telegram": {"recipient": [1, 1], "channel": None}}.

        Each value is [per_second, burst] (burst optional) or None to switch that limit off; the shape of the
        setting GRIDBOT_WORKER_RATE_LIMITS. Raises ValueError naming the channel and key at fault.
        """
        limits = dict(DEFAULT_LIMITS)
        for channel, spec in (overrides or {}).items():
            if channel not in DEFAULT_LIMITS:
                raise ValueError(f"rate limits of {channel!r}: unknown channel (known: {', '.join(DEFAULT_LIMITS)})")
            if not isinstance(spec, Mapping):
                raise ValueError(f"rate limits of {channel!r}: expected an object with channel/recipient, got {spec!r}")
            unknown = set(spec) - {"channel", "recipient"}
            if unknown:
                raise ValueError(f"rate limits of {channel!r}: unknown keys {sorted(unknown)}")
            values = {key: _rate(f"{channel}.{key}", value) for key, value in spec.items()}
            limits[channel] = replace(limits[channel], **values)
        return cls(per_channel=limits, enabled=enabled)

    def of(self, channel: str) -> ChannelLimits | None:
        """The limits of one channel, or None when it has none (or every limit is switched off)."""
        return self.per_channel.get(channel) if self.enabled else None

    def late_allowance(self, channel: str) -> float | None:
        """How late after its slot a message of this channel that waited for it may still go out; None: any
        time (no channel-wide limit to keep)."""
        limits = self.of(channel)
        return limits.channel.late_allowance() if limits is not None and limits.channel is not None else None


def _rate(where: str, value: Sequence[float] | None) -> Rate | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) not in (1, 2):
        raise ValueError(f"rate limits of {where}: expected [per_second, burst] or null, got {value!r}")
    try:
        return Rate(*(float(v) for v in value))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"rate limits of {where}: {exc}") from None


class Schedule:
    """GCRA: the theoretical arrival time of the next conforming message (a token bucket in one float).

    A schedule pays for the lateness a send may have with its burst: its slots are booked as if the burst were
    `lateness` seconds' worth of messages smaller, so that sends up to that late still conform. What a small
    burst cannot pay (a chat's one message a second) it pays with spacing: each slot that much further from the
    last, so two messages to one chat are never closer than the limit, the first late and the second not."""

    __slots__ = ("interval", "tolerance", "tat")

    def __init__(self, rate: Rate, tat: float = 0.0, *, lateness: float = 0.0) -> None:
        interval = 1.0 / rate.per_second
        burst_time = (max(rate.burst, 1.0) - 1.0) * interval
        self.interval = interval + max(0.0, lateness - burst_time)
        self.tolerance = max(0.0, burst_time - lateness)
        self.tat = tat

    def earliest(self, at: float) -> float:
        """The earliest time ≥ `at` at which one more message conforms."""
        return max(at, self.tat - self.tolerance)

    def take(self, at: float) -> None:
        """Account for a message sent at `at` (which must conform)."""
        self.tat = max(self.tat, at) + self.interval

    def room(self, at: float, horizon: float) -> int:
        """How many more messages conform between `at` and `at + horizon`, booked one after another."""
        if self.earliest(at) > at + horizon:
            return 0
        return int((at + horizon + self.tolerance - max(self.tat, at)) // self.interval) + 1


@dataclass(frozen=True)
class Reservation:
    """The answer of the limiter: send after `delay` seconds, or (granted=False) come back after `delay`."""

    granted: bool
    delay: float


GO = Reservation(True, 0.0)


def book(recipient: Schedule | None, channel: Schedule | None, now: float, max_wait: float) -> Reservation:
    """Book the earliest slot that conforms to both schedules; none if it is more than max_wait away."""
    at = recipient.earliest(now) if recipient else now
    # The channel slot is booked at the recipient's time, so a message held back for its chat
    # cannot later push the channel over its rate.
    at = channel.earliest(at) if channel else at
    if at - now > max_wait:
        return Reservation(False, at - now)
    if recipient:
        recipient.take(at)
    if channel:
        channel.take(at)
    return Reservation(True, at - now)


class RateLimiter:
    """Reserves send slots under the channel and recipient limits of a RateLimits configuration."""

    def __init__(self, limits: RateLimits | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or RateLimits()
        self._clock = clock
        self._lock = threading.Lock()
        self._channels: dict[str, Schedule] = {}
        self._recipients: dict[tuple[str, str], Schedule] = {}
        self._held_until: dict[tuple[str, str], float] = {}
        self._last_prune = clock()

    def hold(self, channel: str, recipient: str, seconds: float) -> None:
        """The platform said "retry after N s" for this recipient: hold its other messages that long too."""
        with self._lock:
            key = (channel, recipient)
            self._held_until[key] = max(self._held_until.get(key, 0.0), self._clock() + seconds)

    def reserve(self, channel: str, recipient: str, *, max_wait: float) -> Reservation:
        """Book the earliest slot for one message; if it is more than max_wait away, book nothing."""
        held = self.held_back(channel, recipient)
        if held:
            return held
        lim = self.limits.of(channel)
        if lim is None:
            return GO
        with self._lock:
            now = self._clock()
            self._prune(now)
            lateness = self.limits.late_allowance(channel) or 0.0
            rec = self._schedule(self._recipients, (channel, recipient), lim.recipient, lateness)
            chan = self._schedule(self._channels, channel, lim.channel, lateness)
            return book(rec, chan, now, max_wait)

    def room(self, channel: str, horizon: float) -> int | None:
        """How many more messages the channel-wide limit lets out within `horizon` seconds from now, as this
        limiter last saw the channel's schedule; None when the channel has no such limit."""
        lim = self.limits.of(channel)
        if lim is None or lim.channel is None:
            return None
        with self._lock:
            seen, offset = self._last_seen(channel)
            now = self._clock() + offset
        if seen is None:  # never booked: a full bucket
            seen = Schedule(lim.channel, lateness=self.limits.late_allowance(channel) or 0.0)
        return seen.room(now, horizon)

    def _last_seen(self, channel: str) -> tuple[Schedule | None, float]:
        """The channel's schedule as last booked, and the time of its clock minus this limiter's clock."""
        return self._channels.get(channel), 0.0

    def reserve_many(
        self, session: Session, wanted: Sequence[tuple[str, str]], *, max_wait: float
    ) -> list[Reservation]:
        """Book one slot per (channel, recipient), in order; this limiter keeps its schedules in memory."""
        return [self.reserve(channel, recipient, max_wait=max_wait) for channel, recipient in wanted]

    def held_back(self, channel: str, recipient: str) -> Reservation | None:
        """The platform's own "retry after" for this recipient, while it lasts."""
        if not self._held_until:
            return None
        # Flood control from the platform applies even with our own limits switched off.
        with self._lock:
            held = self._held_until.get((channel, recipient), 0.0) - self._clock()
        return Reservation(False, held) if held > 0 else None

    @staticmethod
    def _schedule(table: dict[Any, Schedule], key: object, rate: Rate | None, lateness: float = 0.0) -> Schedule | None:
        if rate is None:
            return None
        sched = table.get(key)
        if sched is None:
            sched = table[key] = Schedule(rate, lateness=lateness)
        return sched

    def _prune(self, now: float) -> None:
        # Forget recipients whose bucket is full again, so the table does not grow with every chat ever seen.
        if now - self._last_prune < 60.0:
            return
        self._last_prune = now
        self._recipients = {k: s for k, s in self._recipients.items() if s.tat > now}
        self._held_until = {k: t for k, t in self._held_until.items() if t > now}

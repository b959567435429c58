"""Backoff arithmetic, error classification and the token buckets, on a fake clock (and one shared booking)."""

from __future__ import annotations

import random

import pytest
from sqlalchemy.orm import Session, sessionmaker

from backend.db.session import transaction
from backend.workers.channels import (
    BlockedError,
    PermanentChannelError,
    TransientChannelError,
    WindowClosedError,
)
from backend.workers.ratelimit import (
    MAX_LATENESS,
    MIN_LATENESS,
    ChannelLimits,
    Rate,
    RateLimiter,
    RateLimits,
    Reservation,
)
from backend.workers.retry import Outcome, RetryPolicy, decide
from backend.workers.sharedlimits import SharedRateLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_backoff_grows_exponentially_within_its_jitter_band_and_is_capped() -> None:
    policy = RetryPolicy(base_seconds=1.0, factor=2.0, cap_seconds=30.0)
    rng = random.Random(7)
    for attempt in range(1, 10):
        raw = min(30.0, 2.0 ** (attempt - 1))
        delays = [policy.delay(attempt, rng=rng) for _ in range(200)]
        assert raw / 2 <= min(delays) and max(delays) <= raw
        assert max(delays) - min(delays) > raw / 4  # jitter actually spreads the retries


def test_backoff_never_comes_back_before_retry_after() -> None:
    policy = RetryPolicy(base_seconds=1.0)
    rng = random.Random(1)
    assert all(policy.delay(1, retry_after=17, rng=rng) >= 17 for _ in range(100))
    assert all(policy.delay(1, retry_after=17, rng=rng) <= 18 for _ in range(100))


@pytest.mark.parametrize(
    ("error", "has_fallback", "outcome"),
    [
        (TransientChannelError("500"), True, Outcome.RETRY),
        (RuntimeError("renderer bug"), False, Outcome.RETRY),
        (BlockedError("403"), True, Outcome.FALLBACK),
        (WindowClosedError("48h"), True, Outcome.FALLBACK),
        (BlockedError("403"), False, Outcome.DEAD),
        (PermanentChannelError("400 chat not found"), True, Outcome.DEAD),
    ],
)
def test_errors_are_classified_into_retry_fallback_or_dead(
    error: BaseException, has_fallback: bool, outcome: Outcome
) -> None:
    assert decide(error, 1, RetryPolicy(), has_fallback=has_fallback).outcome is outcome


def test_transient_errors_stop_being_retried_at_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=4)
    assert decide(TransientChannelError("x"), 3, policy, has_fallback=False).outcome is Outcome.RETRY
    last = decide(TransientChannelError("x"), 4, policy, has_fallback=False)
    assert last.outcome is Outcome.DEAD and "gave up after 4 attempts" in last.reason


def limiter(channel: Rate | None, recipient: Rate | None, clock: Clock, enabled: bool = True) -> RateLimiter:
    limits = RateLimits({"telegram": ChannelLimits(channel, recipient)}, enabled=enabled)
    return RateLimiter(limits, clock=clock)


def test_one_chat_gets_one_message_per_second() -> None:
    clock = Clock()
    lim = limiter(None, Rate(1.0, 1.0), clock)
    delays = [lim.reserve("telegram", "42", max_wait=10).delay for _ in range(4)]
    assert delays == pytest.approx([0.0, 1.0, 2.0, 3.0])
    assert lim.reserve("telegram", "43", max_wait=10).delay == 0.0  # other chats are not held back


def test_channel_burst_then_steady_rate() -> None:
    clock = Clock()
    rate = Rate(30.0, 30.0)
    lim = limiter(rate, None, clock)
    delays = [lim.reserve("telegram", str(i), max_wait=10).delay for i in range(60)]
    # The burst pays for the lateness a send may have (0.1 s: 3 messages at 30/s): 27 at once, then one
    # every 1/30 s.
    assert rate.late_allowance() == 0.1
    assert delays[:27] == [0.0] * 27
    assert delays[27:] == pytest.approx([27 / 30 - (29 / 30 - 0.1) + i / 30 for i in range(33)])


def most_in_a_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for u in times[i:] if u < t + 1.0) for i, t in enumerate(times))


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_sends_up_to_the_allowance_late_still_keep_the_channel_limit(seed: int | None) -> None:
    """A worker short of CPU sends after its slots, by up to the allowance: the platform must still count no
    more than burst + rate in any second. Without the allowance taken from the burst, the burst sent late and
    the slots a second later sent on time (seed None) come to 129 in one second, over the 120 allowed."""
    clock = Clock()
    rate = Rate(100.0, 20.0)
    lim = limiter(rate, None, clock)
    start, rng = clock.t, random.Random(seed)
    sends = []
    for i in range(400):
        clock.t = start + i * 0.004  # asked for faster than the rate: the limiter spaces them out
        slot = clock.t + lim.reserve("telegram", str(i), max_wait=100).delay - start
        allowance = rate.late_allowance()
        assert allowance is not None
        late = (allowance if slot < 0.5 else 0.0) if seed is None else rng.uniform(0, allowance)
        sends.append(slot + late)
    assert most_in_a_second(sends) <= rate.max_in_window(1.0)


TELEGRAM_LIMITS = RateLimits({"telegram": ChannelLimits(Rate(30.0, 30.0), Rate(1.0, 1.0))})


def test_a_chats_messages_sent_up_to_the_allowance_late_are_never_closer_than_its_limit() -> None:
    """The platform counts a chat's messages as they arrive: one sent as late as the channel allows (0.1 s)
    and the next on time must still be a second apart. Booked a second apart, they came 0.9 s apart."""
    clock = Clock()
    lim = RateLimiter(TELEGRAM_LIMITS, clock=clock)
    allowance = TELEGRAM_LIMITS.late_allowance("telegram")
    assert allowance == 0.1
    slots = [lim.reserve("telegram", "42", max_wait=10).delay for _ in range(4)]
    sends = [slot + (allowance if i % 2 == 0 else 0.0) for i, slot in enumerate(slots)]
    assert min(b - a for a, b in zip(sends, sends[1:], strict=False)) >= 1.0 - 1e-9
    assert slots == pytest.approx([0.0, 1.1, 2.2, 3.3])  # the allowance and no more


def test_shared_bookings_space_a_chats_messages_for_the_allowance_too(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        slots = SharedRateLimiter(TELEGRAM_LIMITS).reserve_many(session, [("telegram", "42")] * 4, max_wait=10.0)
    assert [b.delay - a.delay for a, b in zip(slots, slots[1:], strict=False)] == pytest.approx([1.1] * 3)


def test_the_allowance_follows_the_channels_limit() -> None:
    assert RateLimits({"telegram": ChannelLimits(Rate(30.0, 30.0), None)}).late_allowance("telegram") == 0.1
    assert RateLimits({"telegram": ChannelLimits(Rate(1000.0, 100.0), None)}).late_allowance(
        "telegram"
    ) == pytest.approx(99 / 2000)  # never more than half the burst
    # Half the burst too small to pay for MIN_LATENESS: sent as booked, however late.
    assert RateLimits({"telegram": ChannelLimits(Rate(20.0, 1.0), None)}).late_allowance("telegram") is None
    assert Rate(1_000_000.0, 1000.0).late_allowance() is None
    assert Rate(1000.0, 2 + 2000 * MIN_LATENESS).late_allowance() == pytest.approx(MIN_LATENESS + 1 / 2000)
    assert RateLimits({"telegram": ChannelLimits(None, Rate(1.0, 1.0))}).late_allowance("telegram") is None
    assert RateLimits(enabled=False).late_allowance("telegram") is None


def test_reservation_beyond_max_wait_is_refused_and_books_nothing() -> None:
    clock = Clock()
    lim = limiter(None, Rate(1.0, 1.0), clock)
    assert lim.reserve("telegram", "42", max_wait=0.5).granted
    refused = lim.reserve("telegram", "42", max_wait=0.5)
    assert not refused.granted and refused.delay == pytest.approx(1.0)
    clock.t += 1.0
    assert lim.reserve("telegram", "42", max_wait=0.5).delay == 0.0


def test_message_held_for_its_chat_books_its_channel_slot_at_send_time() -> None:
    clock = Clock()
    lim = limiter(Rate(2.0, 1.0), Rate(0.5, 1.0), clock)
    assert lim.reserve("telegram", "a", max_wait=5).delay == 0.0
    assert lim.reserve("telegram", "a", max_wait=5).delay == pytest.approx(2.0)
    # The channel's next slot is after the one booked at t+2 s, not squeezed in before it.
    assert lim.reserve("telegram", "b", max_wait=5).delay == pytest.approx(2.5)


@pytest.mark.parametrize("rate", [Rate(10.0, 5.0), Rate(20.0, 20.0), Rate(2.0, 1.0)])
def test_room_is_what_the_channel_would_grant_within_the_horizon(rate: Rate) -> None:
    clock = Clock()
    lim = limiter(rate, None, clock)
    room = lim.room("telegram", 1.0)
    assert room is not None and room >= rate.burst - rate.per_second * MAX_LATENESS
    granted = [lim.reserve("telegram", str(i), max_wait=1.0).granted for i in range(room + 5)]
    assert granted == [True] * room + [False] * 5
    assert lim.room("telegram", 1.0) == 0
    clock.t += 0.5  # half a second on: the slots that came within the horizon meanwhile
    room = lim.room("telegram", 1.0)
    assert room is not None
    assert sum(lim.reserve("telegram", f"later{i}", max_wait=1.0).granted for i in range(room + 5)) == room > 0
    assert lim.room("console", 1.0) is None  # no limit of its own: no cap


def test_a_wecom_member_never_gets_more_than_30_messages_in_a_minute_by_default() -> None:
    # WeCom drops an application's messages to one member past 30 a minute, without an error.
    clock = Clock()
    lim = RateLimiter(RateLimits(), clock=clock)
    slots = [clock.t + lim.reserve("wecom", "gridworker", max_wait=1e6).delay for _ in range(200)]
    assert max(sum(1 for u in slots[i:] if u <= t + 60.0) for i, t in enumerate(slots)) <= 30
    assert slots[-1] - slots[0] <= 200 / 27 * 60  # and not much slower: 27 a minute kept up


def test_switched_off_limits_never_delay() -> None:
    clock = Clock()
    lim = limiter(Rate(1.0, 1.0), Rate(1.0, 1.0), clock, enabled=False)
    assert {lim.reserve("telegram", "42", max_wait=0).delay for _ in range(50)} == {0.0}


def test_channels_without_configured_limits_are_not_delayed() -> None:
    lim = limiter(Rate(1.0, 1.0), Rate(1.0, 1.0), Clock())
    assert {lim.reserve("console", "x", max_wait=0).delay for _ in range(5)} == {0.0}


def test_limits_from_config_override_the_defaults_per_channel() -> None:
    limits = RateLimits.from_config({"telegram": {"recipient": [0.5, 2]}, "wecom": {"channel": None}})
    assert limits.per_channel["telegram"] == ChannelLimits(Rate(30.0, 30.0), Rate(0.5, 2.0))
    assert limits.per_channel["wecom"].channel is None and limits.per_channel["wecom"].recipient is not None
    assert limits.per_channel["wechat"] == RateLimits().per_channel["wechat"]


def test_limits_config_with_a_typo_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        RateLimits.from_config({"telegram": {"per_chat": [1, 1]}})


def test_platform_flood_control_holds_the_recipient_even_with_limits_off() -> None:
    clock = Clock()
    lim = limiter(None, None, clock, enabled=False)
    lim.hold("telegram", "42", 5.0)
    held = lim.reserve("telegram", "42", max_wait=1)
    assert not held.granted and held.delay == pytest.approx(5.0)
    assert lim.reserve("telegram", "43", max_wait=1).granted
    clock.t += 5.0
    assert lim.reserve("telegram", "42", max_wait=1) == Reservation(True, 0.0)

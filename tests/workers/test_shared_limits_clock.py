"""A booking that waited for another worker's lock on the channel counts its delays from when it got the lock."""

from __future__ import annotations

import threading
import time

from backend.db.session import make_engine, make_session_factory, transaction
from backend.workers.ratelimit import ChannelLimits, Rate, RateLimits
from backend.workers.sharedlimits import SharedRateLimiter

LIMITS = RateLimits({"telegram": ChannelLimits(Rate(1.0, 1.0), None)})  # a slot a second, no burst


def test_a_booking_after_a_wait_for_the_lock_goes_at_its_slot_not_later(pg_only_url: str) -> None:
    engine = make_engine(pg_only_url)
    factory = make_session_factory(engine)
    second: list[float] = []  # when the second booking's message is due, on this machine's clock
    try:
        with transaction(factory) as first:
            started = time.monotonic()
            (booked,) = SharedRateLimiter(LIMITS).reserve_many(first, [("telegram", "1")], max_wait=10.0)
            assert booked.granted and booked.delay == 0.0

            def book_second() -> None:
                with transaction(factory) as session:
                    (slot,) = SharedRateLimiter(LIMITS).reserve_many(session, [("telegram", "2")], max_wait=10.0)
                second.append(time.monotonic() + slot.delay)

            waiting = threading.Thread(target=book_second)
            waiting.start()
            time.sleep(0.5)  # the second worker waits on the channel's row meanwhile
            assert waiting.is_alive()
        waiting.join(10)
    finally:
        engine.dispose()
    # Its slot is a second after the first; counted from before its wait for the lock, it came half a second late.
    assert 0.9 < second[0] - started < 1.15

"""A booking counts its delays from when it read the clock: neither the wait for another worker's lock on the
channel nor its own writes after the reading push its messages past their slots."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

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
            assert booked.granted and booked.delay <= 0.0

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


TEN_A_SECOND = RateLimits({"telegram": ChannelLimits(Rate(10.0, 1.0), None)})


def test_the_bookings_own_writes_are_part_of_the_wait(engine: Engine, factory: sessionmaker[Session]) -> None:
    def slow_writes(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "rate_slots" in statement and "DO UPDATE" in statement:  # the booked schedules written back
            time.sleep(0.3)  # a database slow to take the write (or a worker held up meanwhile)

    event.listen(engine, "before_cursor_execute", slow_writes)
    try:
        with transaction(factory) as session:
            started = time.monotonic()
            booked = SharedRateLimiter(TEN_A_SECOND).reserve_many(
                session, [("telegram", "1"), ("telegram", "2")], max_wait=10.0
            )
            due = [time.monotonic() + slot.delay for slot in booked]
    finally:
        event.remove(engine, "before_cursor_execute", slow_writes)
    # Booked 0.1 s apart from the reading; counted from after the writes they would be due 0.3 s later.
    assert all(slot.granted for slot in booked)
    assert due[1] - due[0] == pytest.approx(0.1, abs=0.01)
    assert due[1] - started < 0.25

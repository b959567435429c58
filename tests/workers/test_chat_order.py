"""A batch's messages to one chat keep their booked spacing even when a send is slow, and a message that can no
longer go out near its slot is given back (send_in_chat_order)."""

from __future__ import annotations

import asyncio
import time

from backend.workers.channels import Delivery, HeldBackError, TransientChannelError
from bot.telegram.batch_sender import send_in_chat_order


def run(
    delays: list[tuple[str, float]],
    slow: dict[int, float],
    stall: dict[int, float] | None = None,
    late_after: list[float | None] | None = None,
    results: list[BaseException | None] | None = None,
) -> dict[int, tuple[float, float]]:
    """Send items (chat, booked delay); item i's send takes slow[i] s, or holds the event loop for stall[i] s.
    Each sent item's (start, end) after the batch's; the answers go to `results`."""
    items = [(Delivery(i, "telegram", chat, "notice", {"i": i}), delay) for i, (chat, delay) in enumerate(delays)]
    spans: dict[int, tuple[float, float]] = {}

    async def go() -> list[BaseException | None]:
        loop = asyncio.get_running_loop()
        began = loop.time()

        async def send_one(delivery: Delivery, wait: float) -> None:
            await asyncio.sleep(wait)
            i = int(delivery.payload["i"])
            start = loop.time() - began
            time.sleep((stall or {}).get(i, 0.0))  # the loop is busy: every other slot waits
            await asyncio.sleep(slow.get(i, 0.0))
            spans[i] = (start, loop.time() - began)

        return await send_in_chat_order(items, send_one, late_after=late_after)

    answers = asyncio.run(go())
    if results is not None:
        results += answers
    return spans


def test_a_slow_send_does_not_bring_the_chats_next_message_nearer_than_booked() -> None:
    spans = run([("a", 0.0), ("a", 0.2), ("a", 0.4), ("b", 0.0)], slow={0: 0.3})
    assert spans[1][0] - spans[0][1] >= 0.2 - 0.01  # booked 0.2 s after the first; the first ended at 0.3 s
    assert spans[2][0] - spans[1][1] >= 0.2 - 0.01
    assert spans[3][0] < 0.1  # another chat does not wait for this one


def test_slots_that_pass_while_the_loop_is_held_are_given_back_not_sent_late() -> None:
    # The loop is held for 0.25 s by the first send. b's slot (0.1 s) passed 0.15 s before: sent now it would
    # land on slots booked since, so it goes back unsent, and so does b's later message (its order kept);
    # c's slot (0.22 s) is within the allowance, d's (0.4 s) comes after the stall.
    results: list[BaseException | None] = []
    spans = run(
        [("a", 0.0), ("b", 0.1), ("c", 0.22), ("d", 0.4), ("b", 0.5)],
        slow={},
        stall={0: 0.25},
        late_after=[0.1] * 5,
        results=results,
    )
    assert sorted(spans) == [0, 2, 3]
    assert isinstance(results[1], HeldBackError) and results[1].retry_after == 0.0
    assert isinstance(results[4], HeldBackError)
    assert results[0] is None and results[2] is None and results[3] is None
    assert 0.4 - 0.01 <= spans[3][0] < 0.5


def test_without_a_channel_limit_a_late_slot_is_still_sent() -> None:
    results: list[BaseException | None] = []
    spans = run([("a", 0.0), ("b", 0.1)], slow={}, stall={0: 0.25}, results=results)
    assert results == [None, None] and spans[1][0] >= 0.25


def test_delays_count_from_the_given_start() -> None:
    """A slot that passed before the batch reached the loop (a negative delay) is late by that much."""
    items = [
        (Delivery(i, "telegram", chat, "notice", {}), delay)
        for i, (chat, delay) in enumerate([("a", -0.3), ("b", -0.01)])
    ]

    async def send_one(delivery: Delivery, wait: float) -> None:
        return None

    results = asyncio.run(send_in_chat_order(items, send_one, late_after=[0.1, 0.1]))
    assert isinstance(results[0], HeldBackError) and results[1] is None


def test_sends_on_time_keep_their_booked_slots() -> None:
    spans = run([("a", 0.0), ("a", 0.2), ("a", 0.4)], slow={})
    for i, booked in enumerate((0.0, 0.2, 0.4)):
        assert booked - 0.01 <= spans[i][0] < booked + 0.1


def test_after_flood_control_the_chats_remaining_messages_are_held_back() -> None:
    items = [(Delivery(i, "telegram", "a", "notice", {"i": i}), 0.0) for i in range(3)]

    async def send_one(delivery: Delivery, wait: float) -> None:
        if delivery.payload["i"] == 1:
            raise TransientChannelError("flood", retry_after=5.0)

    results = asyncio.run(send_in_chat_order(items, send_one))
    assert results[0] is None and isinstance(results[1], TransientChannelError)
    assert isinstance(results[2], HeldBackError) and results[2].retry_after == 5.0

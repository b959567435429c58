"""The moment by which a rate-limited send must be on its way, from the batch that booked it to the HTTP layer.

A message booked for a rate-limit slot may start only so late (`late_after`): sent later, it would land on the
slots booked since. `send_in_chat_order` checks that before the send, but the send can still wait after the
check, for a pooled connection or a new one while the loop serves the rest of its batch; sends held up there
arrived together and went over the channel's limit in a worker's first second. So the batch names the moment
here, and the send's first request must have its connection by then (AiohttpRequest), or it is given back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from telegram.error import TelegramError

_SEND_BY: ContextVar[float | None] = ContextVar("send_by", default=None)


class SlotMissed(TelegramError):
    """The send could not start by the moment its slot allowed: nothing of it went out. (A TelegramError, so
    that PTB passes it on from its HTTP layer as it is.)"""

    def __init__(self) -> None:
        super().__init__("held back: no connection before its rate-limit slot had passed")


@contextmanager
def sending_by(deadline: float | None) -> Iterator[None]:
    """Within the block, the send under way must start by `deadline` (the running loop's time; None: any time)."""
    token = _SEND_BY.set(deadline)
    try:
        yield
    finally:
        _SEND_BY.reset(token)


def take_deadline() -> float | None:
    """The deadline of the send under way, taken by its first request: its later messages follow that one."""
    deadline = _SEND_BY.get()
    if deadline is not None:
        _SEND_BY.set(None)
    return deadline

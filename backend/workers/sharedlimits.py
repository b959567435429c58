"""Rate limits shared by every outbox worker: the GCRA schedules live in the `rate_slots` table.

A worker books a claimed batch inside the claim's transaction. For each limited channel it first locks that
channel's row (recipient ""), which carries the channel-wide schedule and serialises bookings of the channel
across workers; then it reads the recipients' rows, books in memory with the same `book` as the in-process
limiter, and writes the changed schedules back. Times are the database's clock, so workers on machines with
different clocks still share one timeline. Flood-control holds from the platform stay per worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from backend.db.models import RateSlot
from backend.db.pairs import pairs_in
from backend.db.session import upsert_insert
from backend.workers.ratelimit import GO, ChannelLimits, RateLimiter, RateLimits, Reservation, Schedule, book

CHANNEL_ROW = ""  # the recipient of a channel's own row
PRUNE_SECONDS = 60.0


class SharedRateLimiter(RateLimiter):
    """The limits of a RateLimits configuration, exact across any number of worker processes."""

    _last_db_prune = 0.0

    def __init__(self, limits: RateLimits | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(limits, clock=clock)
        # Each channel's schedule as this worker last booked it, on the database's clock, and that clock's time
        # minus ours: what `room` answers from.
        self._booked: dict[str, tuple[Schedule, float]] = {}

    def reserve_many(
        self, session: Session, wanted: Sequence[tuple[str, str]], *, max_wait: float
    ) -> list[Reservation]:
        """Book one slot per (channel, recipient), in order, in the caller's transaction."""
        answers = [self.held_back(channel, recipient) for channel, recipient in wanted]
        limited = {
            channel: lim
            for (channel, _), answer in zip(wanted, answers, strict=True)
            if answer is None and (lim := self.limits.of(channel)) is not None
        }
        if not limited:
            return [answer or GO for answer in answers]
        channels, recipients = self._load(session, limited, wanted)
        # Read after the channels' locks: a booking that waited for another worker's would otherwise count
        # its delays from before the wait, and its messages would go out that much after their slots.
        now, read_at = database_clock(session), time.monotonic()
        booked = [index for index, (channel, _) in enumerate(wanted) if answers[index] is None and channel in limited]
        for index in booked:
            channel, recipient = wanted[index]
            answers[index] = book(recipients.get((channel, recipient)), channels.get(channel), now, max_wait)
        self._store(session, channels, recipients)
        with self._lock:
            self._booked.update({name: (schedule, now - read_at) for name, schedule in channels.items()})
        self._prune_rows(session, limited, now)
        # The delays count from the clock's reading, and the caller counts them from now: the statements since
        # are part of the wait. Counted from now, a worker held up here would send every slot that much late,
        # onto the slots other workers booked since, and no lateness check would see it.
        spent = time.monotonic() - read_at
        for index in booked:
            answer = answers[index]
            assert answer is not None
            answers[index] = Reservation(answer.granted, answer.delay - spent)
        return [answer or GO for answer in answers]

    def _last_seen(self, channel: str) -> tuple[Schedule | None, float]:
        return self._booked.get(channel, (None, 0.0))

    def _load(
        self, session: Session, limited: dict[str, ChannelLimits], wanted: Sequence[tuple[str, str]]
    ) -> tuple[dict[str, Schedule], dict[tuple[str, str], Schedule]]:
        """Lock the channels' rows (in name order, so two workers never wait on each other) and read the
        schedules this batch needs; a missing row is a full bucket."""
        names = sorted(limited)
        insert = upsert_insert(session)
        session.execute(
            insert(RateSlot)
            .values([{"channel": name, "recipient": CHANNEL_ROW, "tat": 0.0} for name in names])
            .on_conflict_do_nothing()
        )
        locked = session.execute(
            select(RateSlot.channel, RateSlot.tat)
            .where(RateSlot.channel.in_(names), RateSlot.recipient == CHANNEL_ROW)
            .order_by(RateSlot.channel)
            .with_for_update()
        ).all()
        channels: dict[str, Schedule] = {}
        for name, tat in locked:
            rate = limited[name].channel
            if rate is not None:
                channels[name] = Schedule(rate, tat, lateness=rate.late_allowance() or 0.0)
        keys = sorted({(c, r) for c, r in wanted if c in limited and limited[c].recipient is not None})
        stored = dict(_recipient_tats(session, keys))
        recipients: dict[tuple[str, str], Schedule] = {}
        for channel, recipient in keys:
            rate = limited[channel].recipient
            assert rate is not None
            lateness = self.limits.late_allowance(channel) or 0.0
            recipients[channel, recipient] = Schedule(rate, stored.get((channel, recipient), 0.0), lateness=lateness)
        return channels, recipients

    @staticmethod
    def _store(session: Session, channels: dict[str, Schedule], recipients: dict[tuple[str, str], Schedule]) -> None:
        rows = [{"channel": name, "recipient": CHANNEL_ROW, "tat": s.tat} for name, s in channels.items()]
        rows += [{"channel": c, "recipient": r, "tat": s.tat} for (c, r), s in recipients.items()]
        if not rows:
            return
        insert = upsert_insert(session)(RateSlot).values(rows)
        session.execute(
            insert.on_conflict_do_update(index_elements=["channel", "recipient"], set_={"tat": insert.excluded.tat})
        )

    def _prune_rows(self, session: Session, locked: Iterable[str], now: float) -> None:
        # A recipient whose bucket is full again needs no row; deleted under its channel's lock, so no
        # booking of that channel can be reading it meanwhile.
        if now - self._last_db_prune < PRUNE_SECONDS:
            return
        self._last_db_prune = now
        session.execute(
            delete(RateSlot).where(
                RateSlot.channel.in_(list(locked)), RateSlot.recipient != CHANNEL_ROW, RateSlot.tat < now
            )
        )


def _recipient_tats(session: Session, keys: Sequence[tuple[str, str]]) -> list[tuple[tuple[str, str], float]]:
    if not keys:
        return []
    found = session.execute(
        select(RateSlot.channel, RateSlot.recipient, RateSlot.tat).where(
            pairs_in(RateSlot.channel, RateSlot.recipient, keys)
        )
    ).all()
    return [((channel, recipient), tat) for channel, recipient, tat in found]


def database_clock(session: Session) -> float:
    """Epoch seconds by the database server's clock (SQLite: this machine's, the only one it serves)."""
    if session.get_bind().dialect.name == "postgresql":
        return float(session.scalar(text("SELECT extract(epoch FROM clock_timestamp())")))
    return time.time()

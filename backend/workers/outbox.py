"""The outbox worker: claim due notifications under a lease, send them, record every attempt.

Delivery is at-least-once. Claiming a row (attempts + 1, lease set) is the "sending" mark and the
recording transaction after the send is the "sent" mark; a worker that dies between the two leaves
rows whose lease expires, another worker claims them again, and a message may go out twice. Such
rows show up as claims without a recorded outcome: `repeat_report` counts them.

Senders get a neutral `Delivery`: the row's recipient, kind and payload, and on channels that only allow
replies for a while after the recipient's last message (WINDOWED_CHANNELS: WeChat's 48 hours; its sender raises
WindowClosedError, which takes the fallback) the time of that message (ChannelIdentity.last_inbound_at).

On PostgreSQL any number of workers may run (claims use FOR UPDATE SKIP LOCKED). On SQLite run one
worker: the claim is one UPDATE statement and so atomic there too, but SQLite serialises all writers.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from functools import cache, partial
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, case, func, insert, or_, select, text, tuple_, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import NOTIFICATION_PENDING_PREDICATE, ChannelIdentity, Notification, NotificationAttempt
from backend.db.session import among_locked, transaction
from backend.db.types import utcnow
from backend.domain.notifications import FOLDS_INTO, ROUTINE, NoticeKind, folded_payload, folds_into
from backend.workers.channels import (
    WINDOWED_CHANNELS,
    BatchSender,
    ChannelError,
    Delivery,
    Fallback,
    HeldBackError,
    PermanentChannelError,
    Sender,
    TransientChannelError,
)
from backend.workers.periodic import PeriodicJob, PeriodicRunner
from backend.workers.ratelimit import RateLimiter, RateLimits, Reservation
from backend.workers.retry import Decision, Outcome, RetryPolicy, decide
from backend.workers.sharedlimits import SharedRateLimiter
from backend.workers.timed import TimedPool
from backend.workers.wakeup import OutboxWakeup

logger = logging.getLogger(__name__)

# How long a worker with sends in flight waits for its oldest batch before it records the sends that are done
# and looks for queued rows.
BUSY_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class OutboxConfig:
    """Tuning of one worker process."""

    batch_size: int = 100
    lease_seconds: float = 60.0
    send_threads: int = 16
    idle_sleep: float = 0.5  # on PostgreSQL an idle worker wakes at once for new rows (backend/workers/wakeup.py)
    # A message the rate limits would hold back longer than this is put back with a later next_attempt_at.
    max_rate_wait: float = 2.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limits: RateLimits = field(default_factory=RateLimits)
    job_check_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.lease_seconds <= 2 * self.max_rate_wait:
            raise ValueError("lease_seconds must be well above max_rate_wait, or leases expire mid-send")

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> OutboxConfig:
        """Build from backend.settings.Settings (worker_lease_seconds, worker_batch_size, worker_rate_limits*)."""
        values: dict[str, Any] = {
            "lease_seconds": float(settings.worker_lease_seconds),
            "batch_size": int(settings.worker_batch_size),
            "limits": settings.outbox_rate_limits,
        }
        values.update(overrides)
        return cls(**values)


@dataclass
class DrainResult:
    """What one drain step did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    fallback: int = 0
    dead: int = 0
    deferred: int = 0

    def add(self, other: DrainResult) -> None:
        """Accumulate another step's counts."""
        for name in ("claimed", "sent", "retried", "fallback", "dead", "deferred"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


_NOTIFICATIONS = cast(Table, Notification.__table__)
_ATTEMPTS = cast(Table, NotificationAttempt.__table__)
_SENT = (
    update(_NOTIFICATIONS)
    .where(_NOTIFICATIONS.c.id.in_(bindparam("ids", expanding=True)))
    .values(status="sent", sent_at=bindparam("at"), lease_owner=None, lease_until=None, last_error=None)
)
_FOLD_INTO = (
    update(_NOTIFICATIONS)
    .where(_NOTIFICATIONS.c.id == bindparam("carrier"))
    .values(kind=bindparam("kind"), payload=bindparam("payload"))
)
_FOLDED = (
    update(_NOTIFICATIONS)
    .where(_NOTIFICATIONS.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        status="folded",
        attempts=_NOTIFICATIONS.c.attempts - bindparam("claims"),  # 1: undo the claim's count
        lease_owner=None,
        lease_until=None,
        last_error=bindparam("note"),
    )
)
_COUNTERS: dict[str, str] = {Outcome.RETRY: "retried", Outcome.FALLBACK: "fallback", Outcome.DEAD: "dead"}


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """A leased outbox row as the claim's RETURNING gives it: plain values, no ORM instance."""

    id: int
    key: str
    ticket_id: int | None
    person_id: int | None
    channel: str
    external_id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    priority: int
    next_attempt_at: datetime


@dataclass
class _Result:
    row: ClaimedRow
    delivery: Delivery
    at: datetime
    error: BaseException | None = None
    duration_ms: float | None = None
    deferred_for: float | None = None  # set when the rate limits put the row back unsent


def _done(result: _Result) -> Future[_Result]:
    future: Future[_Result] = Future()
    future.set_result(result)
    return future


def claim(
    session: Session, *, worker_id: str, channels: Iterable[str], batch_size: int, lease_seconds: float, now: datetime
) -> list[ClaimedRow]:
    """Lease up to batch_size due rows (pending, due, lease free or expired) of the given channels: the highest
    priority first (urgent alarms, also when retried), then in next_attempt_at order."""
    params = {
        "now": now,
        "channels": list(channels),
        "n": batch_size,
        "worker": worker_id,
        "until": now + timedelta(seconds=lease_seconds),
    }
    rows = [ClaimedRow(*row) for row in session.execute(_claim_statement(session.get_bind().dialect.name), params)]
    rows.sort(key=lambda r: (-r.priority, r.next_attempt_at, r.id))
    return rows


@cache
def _claim_statement(dialect: str) -> Update:
    """The claim as one UPDATE … RETURNING, built once per dialect. A worker claims tens of times a second
    under a steady trickle; building the statement each time, and ORM instances of its rows, were half its CPU."""
    c = _NOTIFICATIONS.c
    now = bindparam("now", type_=c.next_attempt_at.type)
    due = (
        select(c.id)
        .where(
            c.status == "pending",
            c.next_attempt_at <= now,
            c.channel.in_(bindparam("channels", expanding=True)),
            or_(c.lease_until.is_(None), c.lease_until < now),
        )
        .order_by(c.priority.desc(), c.next_attempt_at, c.id)
        .limit(bindparam("n"))
        .with_for_update(skip_locked=True)
    )
    return (
        update(_NOTIFICATIONS)
        .where(among_locked(dialect, c.id, due))
        .values(lease_owner=bindparam("worker"), lease_until=bindparam("until"), attempts=c.attempts + 1)
        .returning(*(c[f.name] for f in fields(ClaimedRow)))
    )


@dataclass(frozen=True, slots=True)
class WaitingRow:
    """A queued row of a recipient that the claim did not take (not due yet, or past the batch)."""

    id: int
    key: str
    channel: str
    external_id: str
    kind: str
    payload: dict[str, Any]
    next_attempt_at: datetime


def waiting_for(
    session: Session, recipients: Iterable[tuple[str, str]], claimed: Iterable[int], now: datetime
) -> dict[tuple[str, str, NoticeKind], list[WaitingRow]]:
    """The recipients' other queued routine rows that fold (FOLDS_INTO), unless another worker holds them, by
    recipient and list kind, oldest first. Locked (SKIP LOCKED) until the claim's transaction ends."""
    c = _NOTIFICATIONS.c
    found = session.execute(
        select(c.id, c.key, c.channel, c.external_id, c.kind, c.payload, c.next_attempt_at)
        .where(
            text(NOTIFICATION_PENDING_PREDICATE),  # the literal, so the partial index applies
            tuple_(c.channel, c.external_id).in_(list(recipients)),
            c.priority == ROUTINE,
            c.kind.in_([kind.value for kind in FOLDS_INTO]),
            c.id.not_in(list(claimed)),
            or_(c.lease_until.is_(None), c.lease_until < now),
        )
        .order_by(c.id)
        .with_for_update(skip_locked=True)
    )
    waiting: dict[tuple[str, str, NoticeKind], list[WaitingRow]] = defaultdict(list)
    for row in found:
        waiting[row.channel, row.external_id, FOLDS_INTO[NoticeKind(row.kind)]].append(WaitingRow(*row))
    return waiting


def _soonest(
    rows: Sequence[ClaimedRow],
    bookings: Sequence[Reservation],
    held: Sequence[int],
    queued: Sequence[WaitingRow],
    now: datetime,
) -> ClaimedRow | WaitingRow:
    """Of held rows (back after their booking's delay) and queued ones, the row that is due first."""
    due: list[tuple[datetime, int, ClaimedRow | WaitingRow]]
    due = [(now + timedelta(seconds=bookings[i].delay), rows[i].id, rows[i]) for i in held[:1]]
    due += [(w.next_attempt_at, w.id, w) for w in queued]
    return min(due, key=lambda d: d[:2])[2]


def fold_held_back(
    session: Session,
    rows: Sequence[ClaimedRow],
    deliveries: Sequence[Delivery],
    bookings: Sequence[Reservation],
    now: datetime,
) -> tuple[list[ClaimedRow], list[Delivery], list[Reservation]]:
    """Fold each recipient's routine new-task (or desk) rows that the limits hold back, and those still queued
    for them (waiting_for), into one task_batch (or desk_batch) message (FOLDS_INTO). It takes the last slot
    booked for them; with none, the list already waiting for them keeps its due time, or the held rows go back
    as one list. So no task waits behind newer ones, and a member has at most one list queued.

    Written in the claim's transaction, so a crash leaves the list message to be sent, never the folded rows
    unannounced; the folded rows get status "folded" and no attempt.
    """
    groups: dict[tuple[str, str, NoticeKind], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        if (into := folds_into(row.kind)) is not None and row.priority == ROUTINE:
            groups[row.channel, row.external_id, into].append(i)
    rows, deliveries, folded = list(rows), list(deliveries), set[int]()
    if not groups:
        return rows, deliveries, list(bookings)
    waiting = waiting_for(session, {(channel, to) for channel, to, _ in groups}, [row.id for row in rows], now)
    for group, members in groups.items():
        held = [i for i in members if not bookings[i].granted]
        booked = [i for i in members if bookings[i].granted]
        queued = waiting.get(group, [])
        if len(members) + len(queued) < 2 or not (held or queued):
            continue
        riders = [booked[-1], *held] if booked else held
        carrier = rows[riders[0]] if booked else _soonest(rows, bookings, held, queued, now)
        parts = {rows[i].id: rows[i].payload for i in riders} | {w.id: w.payload for w in queued}
        payload = folded_payload([parts[id_] for id_ in sorted(parts)])
        session.execute(_FOLD_INTO, {"carrier": carrier.id, "kind": group[2].value, "payload": payload})
        note = f"folded into {carrier.key}"
        if others := [rows[i].id for i in riders if rows[i].id != carrier.id]:
            session.execute(_FOLDED, {"ids": others, "note": note, "claims": 1})
        if others := [w.id for w in queued if w.id != carrier.id]:
            session.execute(_FOLDED, {"ids": others, "note": note, "claims": 0})
        for i in riders:
            if rows[i].id == carrier.id:
                rows[i] = replace(rows[i], kind=group[2].value, payload=payload)
                deliveries[i] = replace(deliveries[i], kind=group[2].value, payload=dict(payload))
            else:
                folded.add(i)
    keep = [i for i in range(len(rows)) if i not in folded]
    return [rows[i] for i in keep], [deliveries[i] for i in keep], [bookings[i] for i in keep]


def claim_within(
    session: Session,
    *,
    worker_id: str,
    room: Mapping[str, int | None],
    batch_size: int,
    lease_seconds: float,
    now: datetime,
) -> list[ClaimedRow]:
    """Lease up to batch_size due rows, of each channel no more than its `room` (None: any number).

    A channel at its rate limit gets only the rows it can send soon, so its backlog never fills a batch
    that other channels' messages (a gridworker's new task behind a flood of resident replies) wait behind."""
    lease = partial(claim, session, worker_id=worker_id, lease_seconds=lease_seconds, now=now)
    capped = {channel: n for channel, n in sorted(room.items()) if n is not None and n < batch_size}
    free = [channel for channel in room if channel not in capped]
    rows: list[ClaimedRow] = []
    groups = [([channel], n) for channel, n in capped.items() if n > 0] + ([(free, batch_size)] if free else [])
    for channels, most in groups:
        want = min(most, batch_size - len(rows))
        if want > 0:
            rows += lease(channels=channels, batch_size=want)
    return rows


class OutboxWorker:
    """One worker's state: its senders, rate limiter and send threads. Call drain_once() repeatedly."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        senders: Mapping[str, Sender],
        *,
        worker_id: str,
        config: OutboxConfig | None = None,
        fallback: Fallback | None = None,
        limiter: RateLimiter | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.session_factory = session_factory
        self.senders = dict(senders)
        self._batch_senders = {ch: s for ch, s in self.senders.items() if isinstance(s, BatchSender)}
        self.worker_id = worker_id
        self.config = config or OutboxConfig()
        self.fallback = fallback
        self.limiter = limiter or SharedRateLimiter(self.config.limits)
        self.rng = rng or random.Random()
        self.clock = clock  # claims, sends and records are stamped with it (tests pass a fake clock)
        threads = ThreadPoolExecutor(max_workers=self.config.send_threads, thread_name_prefix=f"outbox-{worker_id}")
        self._pool = TimedPool(threads, name=f"outbox-{worker_id}")

    def close(self) -> None:
        """Stop the send threads."""
        self._pool.close()

    def __enter__(self) -> OutboxWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def drain_once(self) -> DrainResult:
        """Claim one batch, send it (in parallel, under the rate limits) and record the outcomes."""
        return self._record([f.result() for f in self.claim_and_send()])

    def claim_and_send(self) -> list[Future[_Result]]:
        """Claim one batch and start sending it on the send threads; record the results with record()."""
        if not self.senders:
            return []
        room = {channel: self.limiter.room(channel, self.config.max_rate_wait) for channel in self.senders}
        if all(n == 0 for n in room.values()):
            return []  # every channel's limit is booked up for the next max_rate_wait
        now = self.clock()
        with transaction(self.session_factory) as session:
            rows = claim_within(
                session,
                worker_id=self.worker_id,
                room=room,
                batch_size=self.config.batch_size,
                lease_seconds=self.config.lease_seconds,
                now=now,
            )
            deliveries = self._deliveries(session, rows)
            wanted = [(row.channel, row.external_id) for row in rows]
            bookings = self.limiter.reserve_many(session, wanted, max_wait=self.config.max_rate_wait)
            rows, deliveries, bookings = fold_held_back(session, rows, deliveries, bookings, now)
            # Before the commit: the slots count from the booking, so waiting for the commit is part of the wait.
            booked_at = time.monotonic()
        batched: dict[str, list[tuple[ClaimedRow, Delivery, Reservation]]] = defaultdict(list)
        futures: list[Future[_Result]] = []
        for row, delivery, booking in zip(rows, deliveries, bookings, strict=True):
            if not booking.granted:
                futures.append(_done(_Result(row, delivery, self.clock(), deferred_for=booking.delay)))
            elif row.channel in self._batch_senders:
                batched[row.channel].append((row, delivery, booking))
            else:
                slot = booked_at + booking.delay
                futures.append(self._pool.submit_at(slot, self._deliver, row, delivery, slot, self._allowance(row)))
        for channel, items in batched.items():
            futures.extend(self._deliver_batch(self._batch_senders[channel], items, booked_at))
        return futures

    def _deliver_batch(
        self, sender: BatchSender, items: Sequence[tuple[ClaimedRow, Delivery, Reservation]], booked_at: float
    ) -> list[Future[_Result]]:
        """Hand a channel's booked rows to its batch sender in one call, each with the wait left to its slot."""
        going = [(row, delivery, booked_at + booking.delay, Future[_Result]()) for row, delivery, booking in items]
        allowances = [self._allowance(row) for row, _, _ in items]
        self._pool.submit(self._send_batch, sender, going, allowances)
        return [future for *_, future in going]

    def _allowance(self, row: ClaimedRow) -> float | None:
        """How late after its slot a row may still go out; None: any time. Sent later, it would land on the
        slots booked since (ratelimit.MAX_LATENESS), also when its slot was the booking's own moment."""
        return self.limiter.limits.late_allowance(row.channel)

    def _send_batch(
        self,
        sender: BatchSender,
        going: Sequence[tuple[ClaimedRow, Delivery, float, Future[_Result]]],
        allowances: Sequence[float | None],
    ) -> None:
        """Send booked rows (each with its slot on time.monotonic() and how late it may go) in one call and
        settle their futures."""
        at = self.clock()
        start = time.perf_counter()
        delays = [slot - time.monotonic() for _, _, slot, _ in going]  # negative: the slot has passed
        try:
            errors = sender.send_many(
                [(delivery, delay) for (_, delivery, _, _), delay in zip(going, delays, strict=True)],
                late_after=allowances,
            )
        except Exception as exc:  # a sender bug: every row of the batch gets the error and is retried
            logger.warning("batch sender raised an unexpected %s", type(exc).__name__, exc_info=True)
            errors = [exc] * len(going)
        duration_ms = (time.perf_counter() - start) * 1000
        for (row, delivery, _, future), delay, error in zip(going, delays, errors, strict=True):
            if isinstance(error, HeldBackError):  # not sent: back in the queue, not an attempt
                future.set_result(_Result(row, delivery, at, deferred_for=error.retry_after))
                continue
            if isinstance(error, TransientChannelError) and error.retry_after:
                self.limiter.hold(row.channel, row.external_id, error.retry_after)
            future.set_result(
                _Result(row, delivery, at + timedelta(seconds=max(0.0, delay)), error=error, duration_ms=duration_ms)
            )

    def record(self, sending: Sequence[Future[_Result]]) -> DrainResult:
        """Wait for a batch started by claim_and_send() and record its outcomes in one transaction."""
        return self._record([f.result() for f in sending]) if sending else DrainResult()

    def _deliveries(self, session: Session, rows: Sequence[ClaimedRow]) -> list[Delivery]:
        """The neutral deliveries of claimed rows, with the recipient's last inbound time where the channel has a
        window (WINDOWED_CHANNELS)."""
        by_channel: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            if row.channel in WINDOWED_CHANNELS:
                by_channel[row.channel].add(row.external_id)
        last_seen: dict[tuple[str, str], datetime | None] = {}
        for channel, recipients in by_channel.items():
            found = session.execute(
                select(ChannelIdentity.external_id, ChannelIdentity.last_inbound_at).where(
                    ChannelIdentity.channel == channel, ChannelIdentity.external_id.in_(recipients)
                )
            ).all()
            last_seen.update(((channel, external_id), at) for external_id, at in found)
        return [delivery_of(row, last_seen.get((row.channel, row.external_id))) for row in rows]

    def _deliver(self, row: ClaimedRow, delivery: Delivery, slot: float, allowance: float | None) -> _Result:
        """Send one row (the pool starts it at its booked slot); one too late for its slot goes back unsent."""
        sender = self.senders[row.channel]
        held = self.limiter.held_back(row.channel, row.external_id)  # the platform's flood wait since booking
        if held:
            return _Result(row, delivery, self.clock(), deferred_for=held.delay)
        if allowance is not None and time.monotonic() - slot > allowance:  # booked again, at once
            return _Result(row, delivery, self.clock(), deferred_for=0.0)
        at = self.clock()
        start = time.perf_counter()
        try:
            sender.send(delivery)
        except Exception as exc:  # every failure is classified below, none may kill the worker
            if isinstance(exc, TransientChannelError) and exc.retry_after:
                self.limiter.hold(row.channel, row.external_id, exc.retry_after)
            if not isinstance(exc, ChannelError):
                logger.warning(
                    "sender for %s raised an unexpected %s on notification %s",
                    row.channel,
                    type(exc).__name__,
                    row.id,
                    exc_info=True,
                )
            return _Result(row, delivery, at, error=exc, duration_ms=(time.perf_counter() - start) * 1000)
        return _Result(row, delivery, at, duration_ms=(time.perf_counter() - start) * 1000)

    def _record(self, results: Sequence[_Result]) -> DrainResult:
        out = DrainResult(claimed=len(results))
        now = self.clock()
        attempts: list[dict[str, Any]] = []
        sent_ids: list[int] = []
        with transaction(self.session_factory) as session:
            for res in results:
                row = res.row
                if res.deferred_for is not None:
                    out.deferred += 1
                    session.execute(
                        update(Notification)
                        .where(Notification.id == row.id)
                        .values(
                            attempts=Notification.attempts - 1,
                            lease_owner=None,
                            lease_until=None,
                            next_attempt_at=now + timedelta(seconds=res.deferred_for),
                        )
                    )
                    continue
                if res.error is None:
                    sent_ids.append(row.id)
                    attempts.append(self._attempt(row, res, Outcome.SENT, None))
                    continue
                decision = decide(
                    res.error, row.attempts, self.config.retry, has_fallback=self.fallback is not None, rng=self.rng
                )
                outcome = self._apply_failure(session, res, decision, now, res.error)
                counter = _COUNTERS[outcome]
                setattr(out, counter, getattr(out, counter) + 1)
                attempts.append(self._attempt(row, res, outcome, decision.reason))
            if sent_ids:
                session.execute(_SENT, {"ids": sent_ids, "at": now})
                out.sent = len(sent_ids)
            if attempts:
                # Core table insert: a cached statement and the driver's executemany, no ORM bookkeeping.
                session.execute(insert(_ATTEMPTS), attempts)
        return out

    def _attempt(self, row: ClaimedRow, res: _Result, outcome: str, error: str | None) -> dict[str, Any]:
        return {
            "notification_id": row.id,
            "at": res.at,
            "worker": self.worker_id,
            "outcome": outcome,
            "error": error,
            "duration_ms": res.duration_ms,
        }

    def _apply_failure(
        self, session: Session, res: _Result, decision: Decision, now: datetime, error: BaseException
    ) -> str:
        """Write a failed attempt's consequence on the row; returns the outcome actually taken."""
        row = res.row
        base = update(Notification).where(Notification.id == row.id)
        if decision.outcome is Outcome.RETRY:
            assert decision.delay is not None
            session.execute(
                base.values(
                    lease_owner=None,
                    lease_until=None,
                    last_error=decision.reason,
                    next_attempt_at=now + timedelta(seconds=decision.delay),
                )
            )
            return Outcome.RETRY
        if decision.outcome is Outcome.FALLBACK:
            assert isinstance(error, PermanentChannelError)
            alt_key = self._fallback(session, row, res.delivery, error)
            if alt_key is not None:
                session.execute(
                    base.values(
                        status="fallback",
                        lease_owner=None,
                        lease_until=None,
                        last_error=f"{decision.reason} → fallback {alt_key}",
                    )
                )
                return Outcome.FALLBACK
            decision = Decision(Outcome.DEAD, None, f"{decision.reason}; no fallback")
        session.execute(base.values(status="dead", lease_owner=None, lease_until=None, last_error=decision.reason))
        logger.info("notification %s (%s) dead-lettered: %s", row.id, row.kind, decision.reason)
        return Outcome.DEAD

    def _fallback(
        self, session: Session, row: ClaimedRow, delivery: Delivery, error: PermanentChannelError
    ) -> str | None:
        assert self.fallback is not None

        def address_on(channel: str) -> str | None:
            if row.person_id is None:
                return None
            return session.scalar(
                select(ChannelIdentity.external_id).where(
                    ChannelIdentity.person_id == row.person_id, ChannelIdentity.channel == channel
                )
            )

        alt: Notification | None = None
        try:
            with session.begin_nested():
                other = self.fallback(delivery, error, address_on)
                if other is None:
                    return None
                alt = Notification(
                    key=other.idempotency_key,
                    ticket_id=row.ticket_id,
                    person_id=row.person_id,
                    channel=other.channel,
                    external_id=other.recipient,
                    kind=other.kind,
                    payload=dict(other.payload),
                    priority=row.priority,  # an alarm's fallback goes first too
                )
                session.add(alt)
                session.flush()
        except IntegrityError:
            # The fallback row exists already: an earlier attempt created it, then its worker died.
            logger.info("fallback for notification %s already queued", row.id)
            return f"{alt.key if alt is not None else '?'} (already queued)"
        except Exception:
            logger.exception("fallback hook failed for notification %s", row.id)
            return None
        return alt.key


def delivery_of(row: Notification | ClaimedRow, last_inbound_at: datetime | None = None) -> Delivery:
    """The neutral delivery of an outbox row."""
    return Delivery(
        notification_id=row.id,
        channel=row.channel,
        recipient=row.external_id,
        kind=row.kind,
        payload=dict(row.payload or {}),
        idempotency_key=row.key,
        last_inbound_at=last_inbound_at,
    )


def drain_once(
    session_factory: sessionmaker[Session],
    senders: Mapping[str, Sender],
    *,
    worker_id: str,
    config: OutboxConfig | None = None,
    fallback: Fallback | None = None,
) -> DrainResult:
    """One claim-send-record step with a fresh worker (tests; a loop should keep one OutboxWorker)."""
    with OutboxWorker(session_factory, senders, worker_id=worker_id, config=config, fallback=fallback) as w:
        return w.drain_once()


def drain_until_idle(worker: OutboxWorker, *, timeout: float = 30.0) -> DrainResult:
    """Drain until no row is due (rows waiting for a retry later do not count); for tests and the CLI."""
    total = DrainResult()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        step = worker.drain_once()
        total.add(step)
        if step.claimed == 0:
            break
    return total


def run_worker(
    session_factory: sessionmaker[Session],
    senders: Mapping[str, Sender],
    *,
    worker_id: str,
    stop_event: threading.Event,
    jobs: Sequence[PeriodicJob] = (),
    config: OutboxConfig | None = None,
    fallback: Fallback | None = None,
) -> DrainResult:
    """Send notifications (and run the periodic jobs in a side thread) until stop_event is set."""
    config = config or OutboxConfig()
    total = DrainResult()
    job_thread: threading.Thread | None = None
    if jobs:
        runner = PeriodicRunner(session_factory, jobs, worker_id=worker_id, lease_seconds=config.lease_seconds)
        job_thread = threading.Thread(
            target=runner.loop, args=(stop_event, config.job_check_seconds), name=f"jobs-{worker_id}", daemon=True
        )
        job_thread.start()
    logger.info("worker %s started: channels %s, %d jobs", worker_id, sorted(senders), len(jobs))
    worker = OutboxWorker(session_factory, senders, worker_id=worker_id, config=config, fallback=fallback)
    with worker, OutboxWakeup(session_factory.kw["bind"]) as wakeup:
        # Pipelined: a batch is claimed while the one before is on the wire, and claimed again when the oldest
        # batch is done, after a full batch, or when rows are queued (NOTIFY); and every idle_sleep for rows
        # that became due (retries, deferrals, a rate limit's next slots). Each send is recorded once it is done,
        # not with its whole batch, whose last rows may wait up to max_rate_wait for their slots: other
        # channels' rows are claimed meanwhile. A claim needs at most one batch in flight, so at most two
        # batches per worker are claimed but unrecorded (the bound on repeats after a crash).
        batches: list[list[Future[_Result]]] = []
        look, last_claim = True, 0.0  # look: a reason to claim now
        while not stop_event.is_set():
            db_error = False
            claimed: list[Future[_Result]] = []
            if sum(map(len, batches)) <= config.batch_size and (
                look or time.monotonic() - last_claim >= config.idle_sleep
            ):
                try:
                    claimed = worker.claim_and_send()
                    last_claim = time.monotonic()
                except DBAPIError:
                    logger.exception("worker %s: database error while claiming, pausing", worker_id)
                    db_error = True
            full = len(claimed) >= config.batch_size
            done = [future for batch in batches for future in batch if future.done()]
            recorded = set(done)  # a send finishing after this line waits for the next round
            try:
                total.add(worker.record(done))
            except DBAPIError:
                # Those rows stay leased and come back when the lease expires: possible repeats,
                # which repeat_report counts.
                logger.exception("worker %s: could not record a batch", worker_id)
                db_error = True
            batches = [left for batch in batches if (left := [future for future in batch if future not in recorded])]
            if claimed:
                batches.append(claimed)
            if db_error:
                stop_event.wait(max(config.idle_sleep, 1.0))
                look = True
            elif full and sum(map(len, batches)) <= config.batch_size:
                look = True
            elif batches:
                oldest_done = not wait_futures(batches[0], timeout=BUSY_POLL_SECONDS).not_done
                look = full or oldest_done or wakeup.wait(stop_event, 0)
            else:
                look = wakeup.wait(stop_event, config.idle_sleep)
        try:
            total.add(worker.record([future for batch in batches for future in batch]))
        except DBAPIError:
            logger.exception("worker %s: could not record its last batch", worker_id)
    if job_thread is not None:
        job_thread.join(timeout=config.lease_seconds)
    logger.info("worker %s stopped: %s", worker_id, total)
    return total


@dataclass(frozen=True)
class RepeatReport:
    """Messages that may have gone out more than once, after crashes or expired leases."""

    possible_repeats: int  # an upper bound on the extra messages recipients got
    notifications: int  # how many notifications are concerned


def repeat_report(session: Session, *, now: datetime | None = None) -> RepeatReport:
    """Count claims that ended without a recorded outcome, plus 'sent' outcomes beyond the first."""
    now = now or utcnow()
    outcomes = (
        select(
            NotificationAttempt.notification_id.label("nid"),
            func.count().label("n"),
            func.sum(case((NotificationAttempt.outcome == Outcome.SENT.value, 1), else_=0)).label("sent"),
        )
        .group_by(NotificationAttempt.notification_id)
        .subquery()
    )
    in_flight = case((Notification.lease_until > now, 1), else_=0)
    lost = Notification.attempts - func.coalesce(outcomes.c.n, 0) - in_flight
    extra_sent = func.coalesce(outcomes.c.sent, 0) - 1
    repeats = case((lost > 0, lost), else_=0) + case((extra_sent > 0, extra_sent), else_=0)
    stmt = (
        select(func.coalesce(func.sum(repeats), 0), func.count())
        .select_from(Notification)
        .outerjoin(outcomes, outcomes.c.nid == Notification.id)
        .where(repeats > 0)
    )
    total, rows = session.execute(stmt).one()
    return RepeatReport(possible_repeats=int(total), notifications=int(rows))


@dataclass(frozen=True)
class DeadLetter:
    """A notification that could not be delivered, with the reason, for the admin list."""

    id: int
    key: str
    kind: str
    channel: str
    ticket_id: int | None
    person_id: int | None
    attempts: int
    reason: str | None
    created_at: datetime
    last_attempt_at: datetime | None


def dead_letters(session: Session, limit: int = 100, offset: int = 0) -> list[DeadLetter]:
    """The dead-letter list, newest failure first."""
    last_at = (
        select(NotificationAttempt.notification_id.label("nid"), func.max(NotificationAttempt.at).label("at"))
        .group_by(NotificationAttempt.notification_id)
        .subquery()
    )
    stmt = (
        select(Notification, last_at.c.at)
        .outerjoin(last_at, last_at.c.nid == Notification.id)
        .where(Notification.status == "dead")
        .order_by(last_at.c.at.desc(), Notification.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [
        DeadLetter(
            id=n.id,
            key=n.key,
            kind=n.kind,
            channel=n.channel,
            ticket_id=n.ticket_id,
            person_id=n.person_id,
            attempts=n.attempts,
            reason=n.last_error,
            created_at=n.created_at,
            last_attempt_at=at,
        )
        for n, at in session.execute(stmt).all()
    ]


def requeue_dead(session: Session, ids: Sequence[int], *, now: datetime | None = None) -> int:
    """Put dead-lettered notifications back in the queue (an admin action); returns how many.

    attempts is kept (repeat_report relies on it), so a requeued row that fails transiently again is
    dead-lettered after that one try unless the retry policy allows more attempts.
    """
    if not ids:
        return 0
    result = session.execute(
        update(Notification)
        .where(Notification.id.in_(list(ids)), Notification.status == "dead")
        .values(status="pending", next_attempt_at=now or utcnow(), lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]

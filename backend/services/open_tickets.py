"""The open tickets a new report may repeat: same grid, same category, opened inside the duplicate window.

An inbox batch of first reports used to read them one query per report, a third of the batch's round trips.
Now the first report of a transaction that asks reads the candidates of every (grid, category) its batch's
texts point to (`batch_pairs`, from the batch's one analysis) in one query, and the others take theirs from
there. The rows are kept on the session for its transaction only, and a pair is read again once a ticket of
that grid or category is written in the session (a report made or merged, a ticket closed, a category
corrected), so a turn never misses what an earlier turn of its batch did.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain, product
from typing import Any

from sqlalchemy import Select, bindparam, event, inspect, select, union_all
from sqlalchemy.orm import Session, SessionTransaction

from backend.db.fixed_sets import in_fixed
from backend.db.models import Ticket
from backend.domain.tickets import OPEN_STATUSES
from backend.runtime import Runtime

# A busy grid has up to this many candidates in one category; the newest are compared.
CANDIDATES_PER_PAIR = 200
_KEPT = "open_tickets"

Pair = tuple[str, str]  # (grid code, category code)


@dataclass(frozen=True)
class OpenTicket:
    """A candidate: plain values, not a ticket (a busy batch reads thousands)."""

    id: int
    number: str
    text: str
    created_at: datetime


@dataclass
class _Kept:
    transaction: SessionTransaction
    rows: dict[Pair, list[OpenTicket]] = field(default_factory=dict)
    batch_read: bool = False


def open_tickets(
    session: Session,
    runtime: Runtime,
    grid_code: str,
    category_code: str,
    *,
    exclude_id: int = -1,
    batch_pairs: Collection[Pair] = (),
) -> list[OpenTicket]:
    """The open tickets of a grid and category opened inside the duplicate window, newest first; on a
    transaction's first call, those of `batch_pairs` too, kept for the later calls."""
    if session.autoflush:
        session.flush()  # as a query would: tickets changed since are written, and their pairs read again
    kept = _kept(session)
    pair = (grid_code, category_code)
    if pair not in kept.rows:
        wanted = {pair}
        if not kept.batch_read:
            kept.batch_read = True
            wanted.update(p for p in batch_pairs if p not in kept.rows)
        kept.rows.update(_read(session, runtime, wanted))
    since = runtime.clock.now() - runtime.duplicates.window
    return [row for row in kept.rows[pair] if row.id != exclude_id and row.created_at >= since]


def _kept(session: Session) -> _Kept:
    """What this session's transaction read (nothing once it has ended)."""
    session.connection()  # begins the transaction if none has begun
    transaction = session.get_transaction()
    assert transaction is not None
    kept = session.info.get(_KEPT)
    if not isinstance(kept, _Kept) or kept.transaction is not transaction:
        kept = session.info[_KEPT] = _Kept(transaction)
    return kept


def _newest_open(
    grid_code: Any, category_code: Any, since: Any
) -> Select[int, str, str, datetime, str | None, str | None]:
    """A pair's newest open tickets inside the window (values or bind parameters), newest first, up to the limit:
    a walk of ix_tickets_grid_category_id backwards that stops there."""
    return (
        select(Ticket.id, Ticket.number, Ticket.text, Ticket.created_at, Ticket.grid_code, Ticket.category_code)
        .where(
            Ticket.grid_code == grid_code,
            Ticket.category_code == category_code,
            in_fixed(Ticket.status, OPEN_STATUSES),
            Ticket.created_at >= since,
        )
        .order_by(Ticket.id.desc())
        .limit(CANDIDATES_PER_PAIR)
    )


# Built once: one pair is what most calls outside a batch read, and building the statement took longer than
# running it.
_ONE_PAIR = _newest_open(bindparam("grid_code"), bindparam("category_code"), bindparam("since"))


def _read(session: Session, runtime: Runtime, pairs: Iterable[Pair]) -> dict[Pair, list[OpenTicket]]:
    wanted = sorted(pairs)
    since = runtime.clock.now() - runtime.duplicates.window
    if len(wanted) == 1:
        ((grid_code, category_code),) = wanted
        rows = session.execute(_ONE_PAIR, {"grid_code": grid_code, "category_code": category_code, "since": since})
        return {wanted[0]: [OpenTicket(*row[:4]) for row in rows]}
    # One limited read per pair, in one statement, where one read of all pairs (numbered per pair, then cut)
    # gathered and sorted every open ticket of them.
    newest = union_all(*(select(_newest_open(grid, category, since).subquery()) for grid, category in wanted))
    found: dict[Pair, list[OpenTicket]] = {pair: [] for pair in wanted}
    for row in session.execute(newest):
        found[row.grid_code, row.category_code].append(OpenTicket(row.id, row.number, row.text, row.created_at))
    for candidates in found.values():
        candidates.sort(key=lambda candidate: candidate.id, reverse=True)
    return found


@event.listens_for(Session, "before_flush")
def _forget_written(session: Session, _flush_context: object, _instances: object) -> None:
    """A ticket written in the session: its pairs (before and after the change) are read again."""
    kept = session.info.get(_KEPT)
    if not isinstance(kept, _Kept) or not kept.rows:
        return
    for ticket in chain(session.new, session.dirty, session.deleted):
        if isinstance(ticket, Ticket):
            attrs = inspect(ticket).attrs
            grids = {ticket.grid_code, *attrs.grid_code.history.deleted}
            categories = {ticket.category_code, *attrs.category_code.history.deleted}
            for pair in product(grids, categories):
                kept.rows.pop(pair, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, _previous: SessionTransaction) -> None:
    """A savepoint rolled back (a failed turn of a batch) takes back its tickets: what was read goes too."""
    session.info.pop(_KEPT, None)

"""The open tickets a new report may repeat: same grid, same category, opened inside the duplicate window.

An inbox batch of first reports used to read them one query per report, a third of the batch's round trips.
Now the first report of a transaction that asks reads the candidates of every (grid, category) its batch's
texts point to (`batch_pairs`, from the batch's one analysis) at once, and the others take theirs from there:
on PostgreSQL in one statement (a lateral read per pair), on SQLite a query per pair (in-process, no round
trip). The rows are kept on the session for its transaction only, and a pair is read again once a ticket of
that grid or category is written in the session (a report made or merged, a ticket closed, a category
corrected), so a turn never misses what an earlier turn of its batch did.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain, product
from typing import Any

from sqlalchemy import Row, Select, String, bindparam, event, func, inspect, select, true
from sqlalchemy.dialects.postgresql import ARRAY
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


# Built once, as building a statement took longer than running it: one pair (what most calls outside a batch
# read, and SQLite's every read) and, on PostgreSQL, any number of pairs in arrays. A statement built per batch
# (a union of one limited read per pair) cost more CPU than the reads: its shape changed with the number of
# pairs, so it was compiled again (0.3 s for 100 pairs) and its cache key taken at every run (25 ms).
_ONE_PAIR = _newest_open(bindparam("grid_code"), bindparam("category_code"), bindparam("since"))
_PAIRS = (
    func.unnest(bindparam("grid_codes", type_=ARRAY(String)), bindparam("category_codes", type_=ARRAY(String)))
    .table_valued("grid_code", "category_code")
    .render_derived()
)
_PAIRS_NEWEST = _newest_open(_PAIRS.c.grid_code, _PAIRS.c.category_code, bindparam("since")).lateral()
_MANY_PAIRS = select(_PAIRS_NEWEST).select_from(_PAIRS).join(_PAIRS_NEWEST, true())


def _read(session: Session, runtime: Runtime, pairs: Iterable[Pair]) -> dict[Pair, list[OpenTicket]]:
    wanted = sorted(pairs)
    since = runtime.clock.now() - runtime.duplicates.window
    found: dict[Pair, list[OpenTicket]] = {pair: [] for pair in wanted}
    rows: Iterable[Row[Any]]
    if len(wanted) > 1 and session.get_bind().dialect.name == "postgresql":
        grid_codes, category_codes = zip(*wanted, strict=True)
        arrays = {"grid_codes": list(grid_codes), "category_codes": list(category_codes), "since": since}
        rows = session.execute(_MANY_PAIRS, arrays)
    else:
        rows = chain.from_iterable(
            session.execute(_ONE_PAIR, {"grid_code": grid, "category_code": category, "since": since})
            for grid, category in wanted
        )
    for row in rows:
        found[row.grid_code, row.category_code].append(OpenTicket(row.id, row.number, row.text, row.created_at))
    for candidates in found.values():  # newest first: a join's rows come in no promised order
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

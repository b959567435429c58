"""`column IN (a set fixed in our code)`, such as the open ticket statuses, as plain bound values.

A list handed to `.in_()` becomes an "expanding" parameter that SQLAlchemy renders into the statement anew
at every execution (a tenth of the CPU of a ticket's routing query); a set that never changes needs none of it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, literal
from sqlalchemy.orm import InstrumentedAttribute


def in_fixed(column: InstrumentedAttribute[str], values: Iterable[str]) -> ColumnElement[bool]:
    """The rows whose column holds one of these values (sorted: one statement text in every process)."""
    return column.in_([literal(str(value)) for value in sorted(values)])

"""A subcategory's responsibility entry comes from the city in use; a code the city dropped, from its stored row."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from backend.db.models import Category
from backend.domain.errors import NotFound
from backend.runtime import Runtime
from backend.services.categories import subcategory


@pytest.fixture
def category_reads(engine: Engine) -> Iterator[list[str]]:
    """The statements that read the categories table, as they reach the database."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "FROM categories" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_a_ticket_is_routed_by_the_city_in_use_without_reading_the_categories_table(
    session: Session, runtime: Runtime, report, category_reads: list[str]
) -> None:
    # A stale row (as an older load left it) must not win over the city the runtime holds.
    session.get_one(Category, "garbage_piling").department_code = "housing"
    session.commit()
    category_reads.clear()
    ticket = report(urgent=True)
    entry = runtime.city.subcategories["garbage_piling"]
    assert (ticket.department_code, ticket.tier) == (entry.department, entry.tier) == ("urban_management", "grid")
    assert ticket.due_at == runtime.calendar.due_at(ticket.clock_started_at, entry.hours_urgent, urgent=True)
    assert category_reads == []


def test_a_code_the_city_no_longer_lists_is_read_from_the_row_it_left(session: Session, runtime: Runtime) -> None:
    session.add(
        Category(
            code="old_kiosks",
            name="报刊亭",
            parent_code=runtime.city.subcategories["garbage_piling"].category,
            department_code="urban_management",
            tier="street",
            hours_normal=24,
            hours_urgent=None,
            self_close=False,
        )
    )
    session.commit()
    entry = subcategory(session, runtime, "old_kiosks")
    assert entry is not None
    assert (entry.department, entry.tier, entry.hours_normal, entry.hours_urgent) == (
        "urban_management",
        "street",
        24,
        24,
    )


def test_top_level_and_unknown_codes_are_no_subcategory(session: Session, runtime: Runtime, report) -> None:
    top = runtime.city.subcategories["garbage_piling"].category
    assert session.get(Category, top) is not None
    assert subcategory(session, runtime, top) is None
    assert subcategory(session, runtime, "no_such_thing") is None
    assert subcategory(session, runtime, None) is None
    with pytest.raises(NotFound):
        report(category=top)

"""A pooled PostgreSQL connection plans its statements again once its plans have aged (make_engine).

A prepared statement keeps the plan it got while its table was small until the table's statistics change. On
a server whose autovacuum has not come round (or is off), a table that grew a thousandfold went on being read
whole for every lookup: under a burst the processor's identity lookups, leases and foreign-key checks did so
(bench.overload). A plan made again estimates the table's rows from its size now.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from backend.db.session import make_engine
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only (GRIDBOT_TEST_POSTGRES_URL)")

LOOKUP = "SELECT id FROM grown WHERE k = %s"


@pytest.fixture
def one_connection() -> Iterator[Engine]:
    """An engine whose pool holds one connection, its plans renewed at every checkout after the first."""
    assert POSTGRES_URL
    engine = make_engine(POSTGRES_URL, plan_max_age=0.0, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def plan_now(raw: Any) -> str:
    """The plan the connection's prepared LOOKUP runs with, as EXPLAIN EXECUTE shows it."""
    (name,) = raw.execute("SELECT name FROM pg_prepared_statements WHERE statement LIKE '%FROM grown%'").fetchone()
    return "\n".join(row[0] for row in raw.execute(f"EXPLAIN EXECUTE {name}(7)"))


def test_a_table_that_grew_is_read_through_its_index_once_plans_have_aged(one_connection: Engine) -> None:
    with one_connection.connect() as conn:
        raw = conn.connection.driver_connection
        raw.execute("CREATE TEMP TABLE grown (id int PRIMARY KEY, k int)")
        raw.execute("CREATE INDEX ON grown (k)")
        raw.execute("INSERT INTO grown SELECT n, n FROM generate_series(1, 10) n")
        raw.execute("ANALYZE grown")  # as autovacuum would: ten rows, one page
        raw.commit()
        for _ in range(8):  # past the plan cache's five custom plans: the small table's plan is kept
            raw.execute(LOOKUP, (7,), prepare=True)
        raw.execute("INSERT INTO grown SELECT n, n FROM generate_series(11, 200000) n")
        raw.commit()
        assert "Seq Scan" in plan_now(raw)  # the plan of ten rows, kept for 200,000
        raw.commit()  # (a rollback at the pool's return would let psycopg forget its prepared statements)
    with one_connection.connect() as conn:  # the same connection, checked out again with its plans aged
        raw = conn.connection.driver_connection
        plan = plan_now(raw)
    assert "Seq Scan" not in plan
    assert "grown_k_idx" in plan

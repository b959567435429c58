"""A burst that queues tens of thousands of reports must not stall the processor's claim.

The claim used to be one query asking, per candidate, "has this sender an older pending message?". On a
PostgreSQL inbox whose statistics say pending rows are rare (a new table, or one analysed while the queue was
empty, as it is most of the time) the planner answered that by comparing each candidate with every pending
row: 5 s per claim at 10,000 waiting reports, minutes at 25,000, while the webhooks kept storing."""

from __future__ import annotations

from sqlalchemy import Connection, insert, text
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import InboxMessage
from backend.usecases import inbox

SENDERS = 10_000  # a burst of new residents' first reports
BACKLOG = 12_000  # and 2,000 of them wrote twice


def test_a_sudden_backlog_is_claimed_oldest_first_one_per_sender(real_db: sessionmaker[Session]) -> None:
    engine = real_db.kw["bind"]
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as conn:  # one connection, so the claims share its prepared statements
        factory = sessionmaker(bind=conn, expire_on_commit=False)
        for n in range(8):  # claims on a near-empty inbox, more than psycopg's prepare threshold
            inbox.store(factory, channel="telegram", message_id=f"warm{n}", sender=f"warm{n}", payload={})
            (item,) = inbox.claim(factory, worker_id="p1", batch_size=100, lease_seconds=30)
            with factory.begin() as session:
                inbox.finish(session, [item.id])
        rows = [
            {"channel": "telegram", "message_id": f"b{n}", "sender": f"s{n % SENDERS}", "payload": {}}
            for n in range(BACKLOG)
        ]
        with factory.begin() as session:
            session.execute(insert(InboxMessage), rows)
        if postgres:  # a plan that scans the backlog per candidate runs far past this
            conn.execute(text("SET statement_timeout = '3s'"))
            conn.commit()
        batch = inbox.claim(factory, worker_id="p1", batch_size=100, lease_seconds=30)
        # The second message of a sender waits behind the first, also deep in a backlog.
        later = inbox.claim(factory, worker_id="p2", batch_size=SENDERS, lease_seconds=30)
    assert [item.message_id for item in batch] == [f"b{n}" for n in range(100)]
    assert len(later) == SENDERS - 100
    assert [item.message_id for item in later[:2]] == ["b100", "b101"]
    assert max(int(item.message_id[1:]) for item in later) == SENDERS - 1


def page_plan(conn: Connection, postgres: bool) -> str:
    """The plan of the claim's page query as the connection runs it now (PostgreSQL: its prepared statement's
    generic plan, the one kept for later claims)."""
    if not postgres:
        sql = str(inbox.PENDING_PAGE.compile(conn.engine))
        return " ".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", (0, 100, 0)))
    conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
    (name,) = conn.exec_driver_sql(
        "SELECT name FROM pg_prepared_statements WHERE statement LIKE '%%inbox_messages.id >%%'"
    ).one()
    return " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN EXECUTE {name}(0, 100)"))


def test_a_claim_page_is_a_range_scan_of_the_waiting_rows_whatever_the_statistics(
    real_db: sessionmaker[Session],
) -> None:
    engine = real_db.kw["bind"]
    postgres = engine.dialect.name == "postgresql"
    finished = [
        {"channel": "telegram", "message_id": f"f{n}", "sender": f"f{n}", "payload": {}, "status": "done"}
        for n in range(5_000)
    ]
    with real_db.begin() as session:
        session.execute(insert(InboxMessage), finished)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE inbox_messages")  # statistics of an inbox where nothing waits
        conn.commit()
        factory = sessionmaker(bind=conn, expire_on_commit=False)
        for _ in range(8):  # more claims than psycopg's prepare threshold
            inbox.claim(factory, worker_id="p1", batch_size=100, lease_seconds=30)
        plan = page_plan(conn, postgres)
    # Not the primary key past every finished row, nor every waiting row gathered and sorted.
    assert "pk_inbox_messages" not in plan and "PRIMARY KEY" not in plan and "Sort" not in plan
    assert "ix_inbox_messages_waiting" in plan or "ix_inbox_messages_claim (status=? AND id>?)" in plan

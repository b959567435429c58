"""The durable inbox's storage: one insert per message, replays are no-ops, one sender's messages in order,
failing turns retried then parked (listed and requeued by the admin), on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from backend.usecases import inbox


def put(factory: sessionmaker[Session], message_id: str, sender: str, text: str = "hi") -> bool:
    return inbox.store(factory, channel="telegram", message_id=message_id, sender=sender, payload={"text": text})


def claim(factory: sessionmaker[Session], worker: str = "p1", n: int = 10) -> list[inbox.InboxItem]:
    return inbox.claim(factory, worker_id=worker, batch_size=n, lease_seconds=30)


def test_a_replayed_message_id_is_stored_once(session_factory: sessionmaker[Session]) -> None:
    assert put(session_factory, "1", "alice") is True
    assert put(session_factory, "1", "alice", "the same id again") is False
    assert inbox.backlog(session_factory) == 1
    assert inbox.status_of(session_factory, "telegram", "1") == "pending"
    assert inbox.status_of(session_factory, "telegram", "2") is None


def test_the_backlog_counts_waiting_messages_up_to_a_limit(session_factory: sessionmaker[Session]) -> None:
    for i in range(5):
        put(session_factory, str(i), f"sender{i}")
    with session_factory.begin() as session:
        inbox.finish(session, [claim(session_factory, n=1)[0].id])
    assert inbox.backlog(session_factory) == 4
    assert inbox.backlog(session_factory, up_to=3) == 3
    assert inbox.backlog(session_factory, up_to=10) == 4


def test_a_claim_takes_only_each_senders_oldest_message(session_factory: sessionmaker[Session]) -> None:
    for i, sender in enumerate(["alice", "alice", "bob", "alice", "carol"]):
        put(session_factory, str(i), sender)
    first = claim(session_factory)
    assert [(item.message_id, item.sender) for item in first] == [("0", "alice"), ("2", "bob"), ("4", "carol")]
    assert all(item.attempts == 1 for item in first)
    # While alice's first message is leased, another processor gets nothing of hers (nor anything else).
    assert claim(session_factory, "p2") == []
    with session_factory.begin() as session:
        inbox.finish(session, [first[0].id])
    assert [item.message_id for item in claim(session_factory, "p2")] == ["1"]
    assert inbox.status_of(session_factory, "telegram", "0") == "done"


def test_a_failing_turn_is_retried_then_parked_and_the_admin_can_requeue_it(
    session_factory: sessionmaker[Session],
) -> None:
    put(session_factory, "1", "alice")
    put(session_factory, "2", "alice")
    (item,) = claim(session_factory)
    assert inbox.fail(session_factory, item, "ValueError: boom", max_attempts=2, retry_seconds=0.0) is False
    # Retried: the same message again (her second one still waits behind it).
    (again,) = claim(session_factory)
    assert (again.message_id, again.attempts) == ("1", 2)
    assert inbox.fail(session_factory, again, "ValueError: boom", max_attempts=2, retry_seconds=0.0) is True
    assert inbox.status_of(session_factory, "telegram", "1") == "parked"
    # Parked, the sender's next message goes ahead.
    assert [i.message_id for i in claim(session_factory)] == ["2"]
    with session_factory() as session:
        (listed,) = inbox.parked(session)
        assert (listed.id, listed.sender, listed.attempts, listed.error) == (item.id, "alice", 2, "ValueError: boom")
        assert inbox.requeue(session, [item.id]) == 1
        session.commit()
    assert inbox.status_of(session_factory, "telegram", "1") == "pending"

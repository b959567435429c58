"""The inbox processor classifies a batch's reports in one call, and each turn uses that prediction: the same
tickets as report-by-report classification, without a second prediction per report."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import ChannelIdentity, InboundMessage, InboxMessage, Notification, Ticket
from backend.runtime import Runtime
from backend.usecases import inbox
from backend.usecases.own_notices import OwnNotices
from bot.chatbot import Chatbot
from bot.inbox import InboxProcessor, store_inbound
from bot.messages import Inbound, InboundKind
from tests.fakes.channels import own_database  # noqa: F401  (fixture)

REPORTS = [
    "怡和花园门口的垃圾好几天没人清运了，臭得不行",
    "建设路上有个井盖丢了，晚上很危险",
    "星河公寓3号楼楼道的灯坏了一个星期了",
]
PIN = (113.5895, 34.73925)


class Counting:
    """The shipped classifier, counting its calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.single = 0
        self.batches: list[int] = []

    def predict(self, text: str) -> Any:
        self.single += 1
        return self.inner.predict(text)

    def predict_many(self, texts: Sequence[str]) -> Any:
        self.batches.append(len(texts))
        return self.inner.predict_many(texts)


def tickets(factory: sessionmaker[Session]) -> dict[str, str | None]:
    with factory() as session:
        return {t.text: t.category_code for t in session.scalars(select(Ticket))}


def test_a_batch_is_classified_once_with_the_same_outcome(
    runtime: Runtime,
    own_database: sessionmaker[Session],  # noqa: F811
) -> None:
    counting = Counting(runtime.classifier)
    chat = Chatbot(dataclasses.replace(runtime, classifier=counting), own_database)  # type: ignore[arg-type]
    for i, text in enumerate(REPORTS):
        sender = f"oBATCH{i}"
        for n, message in enumerate(
            [
                Inbound(channel="wechat", user_id=sender, kind=InboundKind.location, lon=PIN[0], lat=PIN[1]),
                Inbound(channel="wechat", user_id=sender, kind=InboundKind.text, text=text),
            ]
        ):
            store_inbound(own_database, dataclasses.replace(message, message_id=f"{sender}-{n}"))
    processor = InboxProcessor(own_database, chat, worker_id="p1")
    while processor.process_once():
        pass
    assert counting.single == 0  # every report's turn took the batch's prediction
    assert counting.batches == [len(REPORTS)]  # the pins' batch has no text; the reports' is one call
    expected = {text: runtime.classifier.predict(text).subcategory for text in REPORTS}  # type: ignore[union-attr]
    assert tickets(own_database) == expected


def _states(factory: sessionmaker[Session]) -> dict[str, tuple[str, int]]:
    with factory() as session:
        return {m.message_id: (m.status, m.attempts) for m in session.scalars(select(InboxMessage))}


def _replies(factory: sessionmaker[Session], to: str) -> int:
    with factory() as session:
        query = select(func.count()).select_from(Notification).where(Notification.external_id == to)
        return int(session.scalar(query) or 0)


def _breaking(failing: set[str]) -> Callable[[Any], None]:
    def hook(item: Any) -> None:  # the processor's fault hook, inside each turn
        if item.message_id in failing:
            raise RuntimeError("this turn breaks")

    return hook


def _store_reports(factory: sessionmaker[Session]) -> None:
    for i, text in enumerate(REPORTS):
        store_inbound(
            factory, Inbound(channel="telegram", user_id=f"9{i}", kind=InboundKind.text, text=text, message_id=f"b{i}")
        )


def test_a_batch_commits_once_and_a_failing_turn_is_rolled_back_alone_then_retried(
    runtime: Runtime,
    own_database: sessionmaker[Session],  # noqa: F811
) -> None:
    _store_reports(own_database)
    failing = {"b1"}
    engine = own_database.kw["bind"]
    commits: list[int] = []

    def count(_conn: Any) -> None:
        commits.append(1)

    event.listen(engine, "commit", count)
    processor = InboxProcessor(own_database, Chatbot(runtime, own_database), worker_id="p1", on_turn=_breaking(failing))
    processor.config = dataclasses.replace(processor.config, retry_seconds=0.0)
    try:
        assert processor.process_once() == len(REPORTS)
        assert len(commits) == 3  # the claim; every stored turn with its inbox row; the failed one's retry
        assert _states(own_database) == {"b0": ("done", 1), "b1": ("pending", 1), "b2": ("done", 1)}
        assert [_replies(own_database, f"9{i}") for i in range(3)] == [1, 0, 1]  # nothing of the failed turn
        failing.clear()
        commits.clear()
        assert processor.process_once() == 1
        assert len(commits) == 2  # the claim, then the turn with its inbox row
        assert _states(own_database)["b1"] == ("done", 2) and _replies(own_database, "91") == 1
    finally:
        event.remove(engine, "commit", count)


def test_one_by_one_after_an_undecodable_message_a_failing_turn_is_retried_not_apologised_for(
    runtime: Runtime,
    own_database: sessionmaker[Session],  # noqa: F811
) -> None:
    _store_reports(own_database)
    inbox.store(own_database, channel="telegram", message_id="junk", sender="99", payload={"kind": "no such kind"})
    failing = {"b1"}
    processor = InboxProcessor(own_database, Chatbot(runtime, own_database), worker_id="p1", on_turn=_breaking(failing))
    processor.config = dataclasses.replace(processor.config, retry_seconds=0.0, max_attempts=2)
    assert processor.process_once() == 4  # the junk sends the batch one by one
    assert _states(own_database) == {"b0": ("done", 1), "b1": ("pending", 1), "b2": ("done", 1), "junk": ("pending", 1)}
    assert _replies(own_database, "91") == 0  # no apology queued for a turn that stored nothing
    failing.clear()
    assert processor.process_once() == 2
    assert _states(own_database)["b1"] == ("done", 2) and _replies(own_database, "91") == 1
    assert _states(own_database)["junk"] == ("parked", 2)  # never dropped: the admin API lists it


def test_turns_of_a_batch_leave_no_listener_behind_on_the_shared_session(
    runtime: Runtime,
    own_database: sessionmaker[Session],  # noqa: F811
) -> None:
    chat = Chatbot(runtime, own_database)
    turns = [
        (Inbound(channel="telegram", user_id=f"8{i}", kind=InboundKind.text, text=text, message_id=f"l{i}"), list)
        for i, text in enumerate(REPORTS)
    ]
    left: list[int] = []

    def count(session: Session, stored: list[bool]) -> None:
        assert all(stored)
        # Beyond the listeners every session has (OwnNotices' are on the Session class), and no turn's notes.
        left.append(len(session.dispatch.transient_to_pending) - len(Session().dispatch.transient_to_pending))
        left.extend(1 for value in session.info.values() if isinstance(value, OwnNotices))

    replies = chat.handle_batch(turns, before_commit=count)  # type: ignore[arg-type]
    assert all(replies) and left == [0]


def _people_of(factory: sessionmaker[Session]) -> dict[str, int]:
    with factory() as session:
        rows = session.execute(
            select(ChannelIdentity.external_id, ChannelIdentity.person_id).where(
                ChannelIdentity.external_id.in_(["90", "91", "92"])
            )
        ).all()
    return {external_id: person_id for external_id, person_id in rows}


def test_a_batch_creates_each_new_sender_once_and_keeps_a_known_one(
    runtime: Runtime,
    own_database: sessionmaker[Session],  # noqa: F811
) -> None:
    store_inbound(
        own_database, Inbound(channel="telegram", user_id="90", kind=InboundKind.text, text="你好", message_id="a0")
    )
    processor = InboxProcessor(own_database, Chatbot(runtime, own_database), worker_id="p1")
    assert processor.process_once() == 1
    known = _people_of(own_database)["90"]
    _store_reports(own_database)  # senders 90 (known now), 91 and 92 (new)
    failing = {"b2"}
    processor = InboxProcessor(own_database, Chatbot(runtime, own_database), worker_id="p1", on_turn=_breaking(failing))
    processor.config = dataclasses.replace(processor.config, retry_seconds=0.0)
    assert processor.process_once() == len(REPORTS)
    people = _people_of(own_database)
    assert set(people) == {"90", "91", "92"} and people["90"] == known
    assert len(set(people.values())) == 3  # one person each; the failed turn's sender was kept as a resident
    failing.clear()
    assert processor.process_once() == 1  # the failed turn again: it finds its sender, creates no second one
    assert _people_of(own_database) == people
    assert _states(own_database)["b2"] == ("done", 2) and _replies(own_database, "92") == 1


def test_a_senders_second_turn_in_one_batch_reads_what_the_first_left(
    runtime: Runtime,
    own_database: sessionmaker[Session],  # noqa: F811
) -> None:
    # The processor claims one message per sender, but a batch of turns holds any: a pin, then the report.
    pin = Inbound(
        channel="wechat", user_id="oTWICE", kind=InboundKind.location, lon=PIN[0], lat=PIN[1], message_id="t0"
    )
    report = Inbound(channel="wechat", user_id="oTWICE", kind=InboundKind.text, text=REPORTS[0], message_id="t1")
    stored: list[bool] = []
    Chatbot(runtime, own_database).handle_batch(
        [(pin, lambda out: out), (report, lambda out: out)], before_commit=lambda _s, done: stored.extend(done)
    )
    assert stored == [True, True]
    with own_database() as session:
        (ticket,) = session.scalars(select(Ticket)).all()
    assert (ticket.lon, ticket.lat) == PIN  # the report went with the pin the first turn kept


def test_a_redelivered_message_in_a_batch_gets_its_stored_reply_and_stores_nothing_new(
    runtime: Runtime,
    own_database: sessionmaker[Session],  # noqa: F811
) -> None:
    chat = Chatbot(runtime, own_database)
    first = Inbound(channel="wechat", user_id="oAGAIN", kind=InboundKind.text, text=REPORTS[1], message_id="r1")
    answered = chat.handle_once(first)
    other = Inbound(channel="wechat", user_id="oOTHER", kind=InboundKind.text, text=REPORTS[2], message_id="r2")
    stored: list[bool] = []
    replies = chat.handle_batch(
        [(first, lambda out: out), (other, lambda out: out)], before_commit=lambda _s, done: stored.extend(done)
    )
    assert stored == [True, True]
    assert replies[0] == answered  # the reply stored with the first delivery, not a second turn
    assert replies[1] and replies[1] != answered
    with own_database() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 2


def _statements_of_a_batch_of_reports(runtime: Runtime, factory: sessionmaker[Session]) -> list[str]:
    """The statements run while one batch turns the reports of three residents who shared the same pin five
    minutes before."""
    chat = Chatbot(runtime, factory)
    senders = [f"oREADS{i}" for i in range(len(REPORTS))]
    for sender in senders:
        pin = Inbound(channel="wechat", user_id=sender, kind=InboundKind.location, lon=PIN[0], lat=PIN[1])
        store_inbound(factory, dataclasses.replace(pin, message_id=f"{sender}-pin"))
    processor = InboxProcessor(factory, chat, worker_id="p1")
    while processor.process_once():
        pass
    runtime.clock.advance(minutes=5)  # type: ignore[attr-defined]
    for sender, text in zip(senders, REPORTS, strict=True):
        report = Inbound(channel="wechat", user_id=sender, kind=InboundKind.text, text=text)
        store_inbound(factory, dataclasses.replace(report, message_id=f"{sender}-text"))
    statements: list[str] = []

    def collect(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lstrip())

    engine = factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", collect)
    try:
        assert processor.process_once() == len(REPORTS)
    finally:
        event.remove(engine, "before_cursor_execute", collect)
    assert len(tickets(factory)) == len(REPORTS)
    return statements


def _selects_of_a_batch_of_reports(runtime: Runtime, factory: sessionmaker[Session]) -> list[str]:
    return [s for s in _statements_of_a_batch_of_reports(runtime, factory) if s.upper().startswith("SELECT")]


def test_a_batch_stamps_its_senders_arrival_in_one_statement_not_one_a_turn(
    runtime: Runtime,
    own_database: sessionmaker[Session],  # noqa: F811
) -> None:
    statements = _statements_of_a_batch_of_reports(runtime, own_database)
    stamps = [s for s in statements if s.upper().startswith("UPDATE CHANNEL_IDENTITIES")]
    assert len(stamps) == 1, stamps
    with own_database() as session:
        arrivals = list(
            session.scalars(select(ChannelIdentity.last_inbound_at).where(ChannelIdentity.external_id.like("oREADS%")))
        )
    # The reports' arrival, five minutes after the pins': a channel's reply window runs from it.
    assert arrivals == [runtime.clock.now()] * len(REPORTS)


def test_a_batch_adds_its_reports_without_a_savepoint_each(
    runtime: Runtime,
    own_database: sessionmaker[Session],  # noqa: F811
) -> None:
    statements = _statements_of_a_batch_of_reports(runtime, own_database)
    assert not [s for s in statements if "SAVEPOINT" in s.upper()]


def test_a_batch_reads_its_reporters_identities_once_not_once_a_report(
    runtime: Runtime,
    own_database: sessionmaker[Session],  # noqa: F811
) -> None:
    reads = [s for s in _selects_of_a_batch_of_reports(runtime, own_database) if "FROM channel_identities" in s]
    # The senders' identities, then their people's (to reach each reporter on the ticket's notices).
    assert len(reads) == 2, reads


def test_a_batch_reads_the_staff_it_dispatches_to_once_not_once_a_report(
    runtime: Runtime,
    own_database: sessionmaker[Session],  # noqa: F811
) -> None:
    selects = _selects_of_a_batch_of_reports(runtime, own_database)
    with own_database() as session:
        handlers = list(session.scalars(select(Ticket.assignee_id)))
    assert None not in handlers and len(set(handlers)) < len(handlers)  # one handler got two of the reports
    reads = [s for s in selects if "FROM staff" in s and "staff.scope_code =" in s]
    assert len(reads) == len(set(handlers)), reads

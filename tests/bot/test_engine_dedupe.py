"""Redelivery at once: the same platform message id three times concurrently makes one ticket.

Threads need real commits, so this uses its own database (a copy of a migrated, loaded SQLite file, and
PostgreSQL when GRIDBOT_TEST_POSTGRES_URL is set) instead of the shared savepoint fixture.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from backend.cityconfig import CityConfig
from backend.db.migrate import upgrade
from backend.db.models import InboundMessage, Ticket
from backend.db.session import make_engine, make_session_factory
from backend.runtime import Runtime
from backend.services.reference import sync_reference, sync_staff
from backend.usecases import Backend
from backend.usecases.abandoned import desk_unanswered
from bot.chatbot import Chatbot
from bot.messages import Inbound, InboundKind, Outbound

PG_ENV = "GRIDBOT_TEST_POSTGRES_URL"


def _load(engine: Engine, city: CityConfig) -> None:
    with Session(engine) as session:
        sync_reference(session, city)
        sync_staff(session, city, demo_password=None)
        session.commit()


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory, city: CityConfig) -> Path:
    path = tmp_path_factory.mktemp("bot-template") / "gridbot.db"
    upgrade(f"sqlite:///{path}")
    eng = make_engine(f"sqlite:///{path}")
    _load(eng, city)
    eng.dispose()
    return path


def _postgres_url(city: CityConfig) -> str:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    import psycopg

    url = make_url(base)
    name = f"{url.database or 'test'}_bot"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    out = url.set(database=name).render_as_string(hide_password=False)
    upgrade(out)
    eng = make_engine(out)
    _load(eng, city)
    eng.dispose()
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def real_factory(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, city: CityConfig
) -> Iterator[sessionmaker[Session]]:
    """Sessions on a database of this test's own, committing for real."""
    if request.param == "sqlite":
        shutil.copy(sqlite_template, tmp_path / "gridbot.db")
        eng = make_engine(f"sqlite:///{tmp_path / 'gridbot.db'}")
    else:
        eng = make_engine(_postgres_url(city))
    yield make_session_factory(eng)
    eng.dispose()


def _deliver_at_once(engine: Chatbot, message: Inbound, times: int) -> list[list[Outbound]]:
    barrier = threading.Barrier(times)
    results: list[list[Outbound]] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(engine.handle_once(message))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(times)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors, errors
    return results


def test_same_msgid_three_times_at_once_makes_one_ticket_and_one_reply(
    real_factory: sessionmaker[Session], runtime: Runtime
) -> None:
    engine = Chatbot(runtime, real_factory)
    message = Inbound(
        "wechat",
        "o-concurrent",
        InboundKind.text,
        message_id="24000000000000042",
        text="怡和花园门口的垃圾桶满了好几天没人清运，臭得不行",
    )
    results = _deliver_at_once(engine, message, 3)
    answered = [r for r in results if r]
    assert len(results) == 3
    assert len({tuple(r) for r in answered}) == 1 and answered  # whoever answered said the same thing
    with real_factory() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
        stored = session.scalar(select(InboundMessage).where(InboundMessage.message_key == "24000000000000042"))
        assert stored is not None and stored.reply is not None
    # A later redelivery gets the stored reply, and still no second ticket.
    assert engine.handle_once(message) == answered[0]
    with real_factory() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1


def test_a_new_sender_registered_by_another_process_mid_turn_is_answered(runtime: Runtime, city: CityConfig) -> None:
    """PostgreSQL only: a SQLite turn holds the write lock from its start, so no other process inserts mid-turn."""
    engine = make_engine(_postgres_url(city))
    real_factory = make_session_factory(engine)
    from sqlalchemy import event

    from backend.db.models import ChannelIdentity, ConversationState, Person
    from backend.texts import t

    fired: list[bool] = []

    def other_process_registers_the_sender(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("INSERT INTO people") and not fired:
            fired.append(True)
            with Session(engine) as other:  # another API process, first message of the same sender
                person = Person(kind="resident", name="")
                other.add(person)
                other.flush()
                other.add(ChannelIdentity(person_id=person.id, channel="wechat", external_id="o-race", language="zh"))
                other.commit()

    event.listen(engine, "before_cursor_execute", other_process_registers_the_sender)
    try:
        out = Chatbot(runtime, real_factory).handle_once(
            Inbound("wechat", "o-race", InboundKind.text, text="帮助", message_id="race-1")
        )
    finally:
        event.remove(engine, "before_cursor_execute", other_process_registers_the_sender)
    assert fired
    assert out and out[0].text != t("error.internal", "zh")
    with real_factory() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(ChannelIdentity).where(ChannelIdentity.external_id == "o-race")
            )
            == 1
        )
        assert session.get(ConversationState, ("wechat", "o-race")) is not None
    engine.dispose()


def _waiting_on_locks(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            or 0
        )


def _until(check: Callable[[], bool]) -> None:
    for _ in range(200):
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("the expected lock wait never came")


def test_an_answer_racing_the_unanswered_job_makes_one_ticket(runtime: Runtime, city: CityConfig) -> None:
    """PostgreSQL only: the job stores an unanswered report while the resident's late answer arrives.

    Another transaction holds today's ticket counter, so the job stops inside create_ticket with the dialogue
    row locked; the answer comes meanwhile. It must wait for the job and then see the stored report, not
    answer the old question and make a second ticket.
    """
    engine = make_engine(_postgres_url(city))
    factory = make_session_factory(engine)
    bot = Chatbot(runtime, factory)
    user = "o-late"
    asked = bot.handle_once(
        Inbound("wechat", user, InboundKind.text, text="怡和花园这边有点问题想反映一下，晚上黑乎乎的")
    )
    assert asked and "对吗" in asked[0].text
    first = asked[0].buttons[0].data  # the category the bot proposes: pressing it answers the question
    runtime.clock.advance(minutes=runtime.settings.triage_answer_minutes + 1)  # type: ignore[attr-defined]
    day = runtime.clock.now().astimezone(ZoneInfo(runtime.settings.timezone)).strftime("%Y%m%d")
    counter = engine.connect()
    hold = counter.begin()
    counter.execute(text("INSERT INTO ticket_counters (day, last) VALUES (:d, 0)"), {"d": day})
    results: dict[str, object] = {}
    job = threading.Thread(target=lambda: results.update(job=desk_unanswered(Backend(runtime, factory))))
    job.start()
    _until(lambda: _waiting_on_locks(engine) >= 1)
    answer = threading.Thread(
        target=lambda: results.update(answer=bot.handle_once(Inbound("wechat", user, InboundKind.button, data=first)))
    )
    answer.start()
    _until(lambda: _waiting_on_locks(engine) >= 2)
    hold.rollback()
    counter.close()
    job.join(timeout=60)
    answer.join(timeout=60)
    assert results["job"] == 1
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
    assert results["answer"]
    engine.dispose()

"""One sender's turns run in order while processors work in parallel: on PostgreSQL two processors claim with
FOR UPDATE SKIP LOCKED (on SQLite the one processor it allows), and a resident's multi-turn report — follow,
location pin, then the text — ends as the ticket placed by that pin, among other residents' messages."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import InboundMessage, InboxMessage, Ticket
from backend.runtime import Runtime
from bot.chatbot import Chatbot
from bot.inbox import InboxProcessor, ProcessorConfig, store_inbound
from bot.messages import Inbound, InboundKind

ALICE = "oALICE_order"
OTHERS = 24
PIN = (113.5895, 34.73925)  # 丰产路社区第一网格


def inbound(user: str, n: int, kind: InboundKind, **fields: object) -> Inbound:
    return Inbound(channel="wechat", user_id=user, kind=kind, message_id=f"{user}-{n}", **fields)  # type: ignore[arg-type]


def test_one_senders_form_runs_in_order_across_processors(real_db: sessionmaker[Session], runtime: Runtime) -> None:
    factory = real_db
    postgres = factory.kw["bind"].dialect.name == "postgresql"
    messages: list[Inbound] = []
    for n in range(3):  # the others' messages interleave with alice's
        messages += [inbound(f"oOTHER{i}", n, InboundKind.text, text="帮助") for i in range(OTHERS)]
        messages.append(
            [
                inbound(ALICE, 0, InboundKind.follow),
                inbound(ALICE, 1, InboundKind.location, lon=PIN[0], lat=PIN[1], label="建设路1号附近"),
                inbound(ALICE, 2, InboundKind.text, text="路灯不亮了，晚上走路黑漆漆的"),
            ][n]
        )
    for message in messages:
        assert store_inbound(factory, message)
    chat = Chatbot(runtime, factory)
    stop = threading.Event()
    processors = [
        InboxProcessor(
            factory, chat, worker_id=f"p{k}", config=ProcessorConfig(batch_size=4, lease_seconds=30, idle_sleep=0.01)
        )
        for k in range(2 if postgres else 1)
    ]
    threads = [threading.Thread(target=p.run, args=(stop,), daemon=True) for p in processors]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 120
        while True:
            with factory() as session:
                left = session.scalar(select(func.count()).where(InboxMessage.status != "done"))
            if left == 0:
                break
            assert time.monotonic() < deadline, f"{left} messages not processed"
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    with factory() as session:
        turns = session.execute(
            select(InboundMessage.external_id, InboundMessage.message_key).order_by(InboundMessage.id)
        ).all()
        owners = set(session.scalars(select(InboxMessage.lease_owner)))
        ticket = session.scalar(select(Ticket).where(Ticket.channel == "wechat"))
    assert len(turns) == len(messages)  # each message once
    for user in {m.user_id for m in messages}:
        keys = [key for who, key in turns if who == user]
        assert keys == sorted(keys), f"{user}'s turns ran out of order: {keys}"
    # The text came after the pin: the report is placed by it, not asked where.
    assert ticket is not None and ticket.grid_code == "LC010101" and ticket.category_code == "street_lights"
    assert owners == {None}  # every lease released

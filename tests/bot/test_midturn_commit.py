"""A turn that creates a ticket and then fails (database gone before the turn's last commit) must still tell
the resident the ticket number when the platform delivers the message again. Found by bench/faults.py."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.channels are parameters here)

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Notification, Ticket
from backend.runtime import Runtime
from tests.bot.test_database_outage import HEADERS, REPORT, database_down
from tests.fakes.channels import (  # noqa: F401  (fixtures)
    build_channel_app,
    chat_runtime,
    own_database,
    telegram_api,
    wechat_api,
)
from tests.fakes.telegram import text_update


def test_a_report_whose_turn_fails_after_the_ticket_is_stored_is_told_its_number_on_redelivery(
    chat_runtime: Runtime, own_database: sessionmaker[Session]
) -> None:
    with TestClient(build_channel_app(chat_runtime, own_database)) as client:
        update = text_update(4545, REPORT, uid=987)
        # save_state is the turn's last write, after the ticket exists
        with database_down(own_database, only="INSERT INTO conversation_states"):
            assert client.post("/telegram/webhook", json=update, headers=HEADERS).status_code == 503
        assert client.post("/telegram/webhook", json=update, headers=HEADERS).status_code == 200

    with own_database() as session:
        numbers = session.scalars(select(Ticket.number)).all()
        reply = session.scalar(select(Notification.payload).where(Notification.key == "telegram:reply:4545"))
    assert len(numbers) == 1
    assert reply is not None and numbers[0] in json.dumps(reply, ensure_ascii=False)

"""`gridbot serve` with the inbox on: the Telegram webhook only stores the update and answers; the processor
thread inside the app runs the turn and queues the reply in the outbox."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.channels are parameters here)

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.db.models import InboxMessage, Notification
from backend.runtime import Runtime
from backend.texts import t
from bot.app import build_app
from tests.fakes.channels import (  # noqa: F401  (fixtures)
    TELEGRAM_SECRET,
    chat_runtime,
    own_database,
    telegram_api,
    wechat_api,
)
from tests.fakes.telegram import text_update


def test_serve_stores_the_update_and_its_own_processor_answers_it(
    chat_runtime: Runtime, own_database: object, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'own.db'}"  # own_database migrated and loaded it
    settings = chat_runtime.settings.model_copy(
        update={"database_url": url, "inbox_enabled": True, "inbox_serve_processors": 1}
    )
    app = build_app(settings, runtime=dataclasses.replace(chat_runtime, settings=settings))
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    with TestClient(app) as client:
        factory = app.state.conversation_engine.backend.session_factory
        for _ in range(2):  # the second delivery of the same update stores nothing
            assert client.post("/telegram/webhook", json=text_update(41, "/start"), headers=headers).status_code == 200
        deadline = time.monotonic() + 30
        while True:
            with factory() as session:
                status = session.scalars(select(InboxMessage.status)).all()
                texts = [m["text"] for n in session.scalars(select(Notification)) for m in n.payload["messages"]]
            if status == ["done"]:
                break
            assert time.monotonic() < deadline, f"not processed: {status}"
            time.sleep(0.05)
    assert texts == [t("welcome", "zh")]

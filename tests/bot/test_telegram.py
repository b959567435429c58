"""Telegram through python-telegram-bot v22 against the fake Bot API: webhook, keyboards, photos, dedupe,
long polling, and the outbox sender's error mapping."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.channels are parameters here)

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import InboundMessage, Notification
from backend.runtime import Runtime
from backend.texts import t
from backend.workers.channels import BlockedError, Delivery, PermanentChannelError, TransientChannelError
from backend.workers.outbox import delivery_of
from bot.chatbot import Chatbot
from bot.telegram.route import file_base_url, poll
from bot.telegram.send import TelegramSender
from tests.fakes.channels import (  # noqa: F401  (fixtures)
    TELEGRAM_SECRET,
    chat_runtime,
    client,
    telegram_api,
    wechat_api,
)
from tests.fakes.telegram import (
    FakeTelegramAPI,
    callback_update,
    location_update,
    photo_update,
    text_update,
    tg_error,
)

HEADERS = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(params=["direct", "inbox"])
def inbox_mode(request: pytest.FixtureRequest) -> str:
    """Every webhook test twice: the turn inside the request, and stored in the inbox for a processor."""
    return str(request.param)


WEBHOOK = pytest.mark.usefixtures("inbox_mode")


def post(client: TestClient, update: dict[str, object]) -> None:
    response = client.post("/telegram/webhook", json=update, headers=HEADERS)
    assert response.status_code == 200, response.text


def test_the_application_starts_with_getme_on_the_configured_base(
    client: TestClient, telegram_api: FakeTelegramAPI
) -> None:
    assert telegram_api.sent("getMe")


@WEBHOOK
def test_start_command_gets_the_welcome(client: TestClient, telegram_api: FakeTelegramAPI) -> None:
    post(client, text_update(1, "/start"))
    sent = telegram_api.sent("sendMessage")
    assert [(m["chat_id"], m["text"]) for m in sent] == [("111", t("welcome", "zh"))]


@WEBHOOK
def test_an_english_user_is_answered_in_english(client: TestClient, telegram_api: FakeTelegramAPI) -> None:
    post(client, text_update(2, "/start", language="en"))
    assert telegram_api.sent("sendMessage")[0]["text"] == t("welcome", "en")


@WEBHOOK
def test_a_report_without_a_place_asks_for_a_location_pin(client: TestClient, telegram_api: FakeTelegramAPI) -> None:
    post(client, text_update(3, "门口的路灯坏了好几天了"))
    markups = [m.get("reply_markup") for m in telegram_api.sent("sendMessage")]
    location_buttons = [
        b
        for mk in markups
        if mk and "keyboard" in mk
        for row in mk["keyboard"]
        for b in row
        if b.get("request_location")
    ]
    inline = [b for mk in markups if mk and "inline_keyboard" in mk for row in mk["inline_keyboard"] for b in row]
    assert location_buttons, markups
    assert inline and all(b["callback_data"] for b in inline)


@WEBHOOK
def test_a_button_press_is_answered_and_reaches_the_engine(
    client: TestClient, telegram_api: FakeTelegramAPI, session_factory: sessionmaker[Session]
) -> None:
    post(client, text_update(4, "门口的路灯坏了好几天了"))
    inline = [
        b
        for m in telegram_api.sent("sendMessage")
        if "inline_keyboard" in (m.get("reply_markup") or {})
        for row in m["reply_markup"]["inline_keyboard"]
        for b in row
    ]
    before = len(telegram_api.sent("sendMessage"))
    post(client, callback_update(5, inline[0]["callback_data"]))
    assert telegram_api.sent("answerCallbackQuery")[0]["callback_query_id"] == "cbq5"
    assert len(telegram_api.sent("sendMessage")) > before
    with session_factory() as session:
        keys = set(session.scalars(select(InboundMessage.message_key).where(InboundMessage.channel == "telegram")))
    assert {"4", "5"} <= keys


@WEBHOOK
def test_a_location_pin_is_taken(client: TestClient, telegram_api: FakeTelegramAPI) -> None:
    post(client, location_update(6, 34.73925, 113.5895))
    assert telegram_api.sent("sendMessage")[0]["text"] == t("report.location_first", "zh")


@WEBHOOK
def test_a_photo_is_fetched_with_getfile(client: TestClient, telegram_api: FakeTelegramAPI) -> None:
    telegram_api.files["PHOTO1"] = PNG
    post(client, photo_update(7, "PHOTO1"))
    assert [p["file_id"] for p in telegram_api.sent("getFile")] == ["PHOTO1"]
    assert any(c.path.endswith("/PHOTO1") for c in telegram_api.calls if c.path.startswith("/file/bot"))
    assert telegram_api.sent("sendMessage")[0]["text"] == t("report.photo_first", "zh")


@WEBHOOK
def test_a_redelivered_update_is_handled_once(
    client: TestClient, telegram_api: FakeTelegramAPI, session_factory: sessionmaker[Session]
) -> None:
    for _ in range(3):
        post(client, text_update(8, "/start"))
    assert len(telegram_api.sent("sendMessage")) == 1
    with session_factory() as session:
        assert (
            session.scalar(select(func.count()).select_from(InboundMessage).where(InboundMessage.message_key == "8"))
            == 1
        )


def test_file_urls_follow_the_api_base() -> None:
    assert file_base_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"


def test_long_polling_answers_updates(
    chat_runtime: Runtime, session_factory: sessionmaker[Session], telegram_api: FakeTelegramAPI
) -> None:
    telegram_api.pending_updates.append(text_update(9, "/start"))
    engine = Chatbot(chat_runtime, session_factory)

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(poll(chat_runtime.settings, engine, stop))
        deadline = time.monotonic() + 10
        while not telegram_api.sent("sendMessage") and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(run())
    assert telegram_api.sent("deleteWebhook")
    assert [m["text"] for m in telegram_api.sent("sendMessage")] == [t("welcome", "zh")]
    # Edits (a report's words, a live location moving) are asked for explicitly.
    asked = telegram_api.sent("getUpdates")[0]["allowed_updates"]
    assert set(asked) == {"message", "edited_message", "callback_query"}


@pytest.fixture
def sender(chat_runtime: Runtime) -> Iterator[TelegramSender]:
    s = TelegramSender.from_settings(chat_runtime.settings)
    yield s
    s.close()


def resolved(chat_id: str = "111") -> Delivery:
    return delivery_of(
        Notification(
            key="t1:e5:p1:resolved",
            channel="telegram",
            external_id=chat_id,
            kind="resolved",
            payload={
                "number": "GB20261123-0007",
                "status": "resolved",
                "category": "garbage_piling",
                "text": "垃圾",
                "lang": "zh",
            },
        )
    )


def test_the_sender_renders_and_sends_a_notification_with_its_buttons(
    sender: TelegramSender, telegram_api: FakeTelegramAPI
) -> None:
    sender.send(resolved())
    sent = telegram_api.sent("sendMessage")
    assert sent and all(str(m["chat_id"]) == "111" for m in sent)
    assert any("GB20261123-0007" in m["text"] for m in sent)
    assert any("inline_keyboard" in (m.get("reply_markup") or {}) for m in sent)  # the rating buttons


def test_the_sender_is_safe_from_many_threads(sender: TelegramSender, telegram_api: FakeTelegramAPI) -> None:
    rows = [resolved(str(1000 + i)) for i in range(20)]
    threads = [threading.Thread(target=sender.send, args=(row,)) for row in rows]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert {str(m["chat_id"]) for m in telegram_api.sent("sendMessage")} == {str(1000 + i) for i in range(20)}


@pytest.mark.parametrize(
    ("answer", "error", "retry_after"),
    [
        (tg_error(429, "Too Many Requests: retry after 7", retry_after=7), TransientChannelError, 7.0),
        (tg_error(500, "Internal Server Error"), TransientChannelError, None),
        (tg_error(403, "Forbidden: bot was blocked by the user"), BlockedError, None),
        (tg_error(400, "Bad Request: chat not found"), PermanentChannelError, None),
    ],
)
def test_bot_api_errors_become_channel_errors(
    sender: TelegramSender,
    telegram_api: FakeTelegramAPI,
    answer: object,
    error: type[Exception],
    retry_after: float | None,
) -> None:
    telegram_api.script.push("/sendMessage", answer)  # type: ignore[arg-type]
    with pytest.raises(error) as caught:
        sender.send(resolved())
    assert type(caught.value) is error
    assert getattr(caught.value, "retry_after", None) == retry_after

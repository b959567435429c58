"""The outbox Bot's HTTP layer (AiohttpRequest) against the fake Bot API: what PTB sends arrives as the Bot API
reads it (form fields, a photo as multipart), and failures come back as PTB's errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.telegram.aiohttp_request import AiohttpRequest
from tests.fakes.server import Answer
from tests.fakes.telegram import FakeTelegramAPI, tg_error

TOKEN = "123:AIOHTTP"


@pytest.fixture
def api() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as fake:
        yield fake


def bot_on(api_base: str, read_timeout: float = 5.0) -> Bot:
    return Bot(TOKEN, base_url=api_base, request=AiohttpRequest(read_timeout=read_timeout))


def test_a_message_with_buttons_arrives_as_the_bot_api_reads_it(api: FakeTelegramAPI) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("确认", callback_data="ok:1")]])

    async def send() -> int:
        async with bot_on(api.base_url) as bot:
            first = await bot.send_message(42, "路灯<b>已修好</b>", parse_mode="HTML", reply_markup=keyboard)
            again = await bot.send_message(42, "第二条")  # over the kept-alive connection
            return again.message_id - first.message_id

    assert asyncio.run(send()) == 1
    first, second = api.sent("sendMessage")
    assert first["chat_id"] == "42" and first["text"] == "路灯<b>已修好</b>" and first["parse_mode"] == "HTML"
    assert first["reply_markup"] == {"inline_keyboard": [[{"text": "确认", "callback_data": "ok:1"}]]}
    assert second["text"] == "第二条"


def test_a_photo_upload_goes_as_multipart(api: FakeTelegramAPI) -> None:
    async def send() -> None:
        async with bot_on(api.base_url) as bot:
            await bot.send_photo(42, b"\x89PNG\r\n\x1a\n" + b"0" * 64, caption="现场照片")

    asyncio.run(send())
    (call,) = [c for c in api.calls if c.path.endswith("/sendPhoto")]
    assert call.headers["content-type"].startswith("multipart/form-data")
    assert "现场照片".encode() in call.body and b"\x89PNG" in call.body


def test_the_bot_apis_refusal_is_ptbs_error(api: FakeTelegramAPI) -> None:
    api.script.push("/sendMessage", tg_error(400, "Bad Request: chat not found"))

    async def send() -> None:
        async with bot_on(api.base_url) as bot:
            await bot.send_message(42, "x")

    with pytest.raises(BadRequest, match="(?i)chat not found"):
        asyncio.run(send())


def test_a_slow_answer_times_out(api: FakeTelegramAPI) -> None:
    api.script.push("/sendMessage", Answer.json({"ok": True, "result": True}, delay=1.0))

    async def send() -> None:
        async with bot_on(api.base_url, read_timeout=0.2) as bot:
            await bot.send_message(42, "x")

    with pytest.raises(TimedOut):
        asyncio.run(send())


def test_an_unreachable_api_is_a_network_error() -> None:
    with FakeTelegramAPI() as gone:
        base = gone.base_url
    bot = Bot(TOKEN, base_url=base, request=AiohttpRequest())

    async def send() -> None:
        await bot.request.initialize()  # not bot.initialize(): that would call getMe first
        try:
            await bot.send_message(42, "x")
        finally:
            await bot.request.shutdown()

    with pytest.raises(NetworkError) as raised:
        asyncio.run(send())
    assert not isinstance(raised.value, TimedOut)


def test_a_request_before_initialize_is_refused() -> None:
    with pytest.raises(RuntimeError, match="not initialized"):
        asyncio.run(AiohttpRequest().do_request("http://127.0.0.1:9/bot/getMe", "POST"))

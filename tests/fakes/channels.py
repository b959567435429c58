"""Fixtures for channel tests: the fake platform servers, settings pointing at them, and the app with every
channel mounted on the real engine. Import the fixtures you use into a test module."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from backend.api.app import create_app
from backend.cityconfig import CityConfig
from backend.db.migrate import upgrade
from backend.db.session import make_engine, make_session_factory
from backend.runtime import Runtime
from backend.settings import Settings
from bot.adapters import mount_channels
from bot.chatbot import Chatbot
from bot.inbox import InboxProcessor
from tests.fakes.telegram import FakeTelegramAPI
from tests.fakes.wechat import FakeWeChatAPI, WeChatPlatform, new_aes_key

WECHAT_TOKEN = "wx-test-token"
WECHAT_APP_ID = "wx1234567890abcdef"
WECOM_TOKEN = "wecom-test-token"
WECOM_CORP_ID = "ww1234567890abcdef"
WECOM_AGENT_ID = 1000002
TELEGRAM_TOKEN = "123456:TEST-TOKEN"
TELEGRAM_SECRET = "tg-webhook-secret"
WECOM_AES_KEY = new_aes_key()


def channel_settings(
    base: Settings,
    wechat_api: FakeWeChatAPI,
    telegram_api: FakeTelegramAPI,
    *,
    wechat_aes_key: str = "",
    **overrides: Any,
) -> Settings:
    """Test settings with every channel configured against the fakes."""
    values: dict[str, Any] = {
        "wechat_token": WECHAT_TOKEN,
        "wechat_app_id": WECHAT_APP_ID,
        "wechat_app_secret": "wx-secret",
        "wechat_aes_key": wechat_aes_key,
        "wechat_api_base": wechat_api.api_base,
        "wechat_template_id": "TPL-1",
        "wecom_corp_id": WECOM_CORP_ID,
        "wecom_agent_id": WECOM_AGENT_ID,
        "wecom_secret": "wecom-secret",
        "wecom_token": WECOM_TOKEN,
        "wecom_aes_key": WECOM_AES_KEY,
        "wecom_api_base": wechat_api.api_base,
        "telegram_token": TELEGRAM_TOKEN,
        "telegram_secret": TELEGRAM_SECRET,
        "telegram_api_base": telegram_api.base_url,
    }
    values.update(overrides)
    return Settings(**{**base.model_dump(), **values})


def build_channel_app(
    runtime: Runtime, session_factory: sessionmaker[Session], engine: Chatbot | None = None
) -> FastAPI:
    """The staff API app with every configured channel mounted, as bot/app.py composes it."""
    app = create_app(runtime, session_factory)
    mount_channels(app, runtime, session_factory, engine or Chatbot(runtime, session_factory))
    return app


@pytest.fixture
def wechat_api() -> Iterator[FakeWeChatAPI]:
    """A running fake WeChat/WeCom API."""
    with FakeWeChatAPI() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def telegram_api() -> Iterator[FakeTelegramAPI]:
    """A running fake Telegram Bot API."""
    with FakeTelegramAPI() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture(params=["plain", "aes"])
def wechat_mode(request: pytest.FixtureRequest) -> str:
    """The Official Account's message mode: plain text or safe (AES)."""
    return str(request.param)


@pytest.fixture
def chat_runtime(
    runtime: Runtime,
    settings: Settings,
    wechat_api: FakeWeChatAPI,
    telegram_api: FakeTelegramAPI,
    request: pytest.FixtureRequest,
) -> Runtime:
    """The test runtime with channels configured (WeChat in safe mode when the test asks for it)."""
    mode = request.getfixturevalue("wechat_mode") if "wechat_mode" in request.fixturenames else "plain"
    aes = new_aes_key() if mode == "aes" else ""
    # A test module may ask for the durable inbox with an `inbox_mode` fixture ("direct" or "inbox").
    inbox = "inbox_mode" in request.fixturenames and request.getfixturevalue("inbox_mode") == "inbox"
    return dataclasses.replace(
        runtime,
        settings=channel_settings(settings, wechat_api, telegram_api, wechat_aes_key=aes, inbox_enabled=inbox),
    )


class WorkerBackedClient(TestClient):
    """A test client that, like a running `gridbot worker`, sends the Telegram outbox after each update (and,
    with the inbox on, first runs the stored updates' turns, like a running `gridbot process`)."""

    def __init__(
        self, app: Any, *, session_factory: sessionmaker[Session], settings: Settings, chat: Chatbot | None = None
    ) -> None:
        super().__init__(app)
        self._factory = session_factory
        self._settings = settings
        self._sender: Any = None
        self._processor = (
            InboxProcessor(session_factory, chat, worker_id="test-processor")
            if settings.inbox_enabled and chat is not None
            else None
        )

    def post(self, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        response = super().post(url, *args, **kwargs)
        if str(url).startswith("/telegram/webhook") and response.status_code == 200:
            from backend.workers.outbox import drain_once
            from bot.telegram.send import TelegramSender

            if self._processor is not None:
                while self._processor.process_once():
                    pass
            if self._sender is None:
                self._sender = TelegramSender.from_settings(self._settings)
            drain_once(self._factory, {"telegram": self._sender}, worker_id="test-worker")
        return response

    def close_sender(self) -> None:
        if self._sender is not None:
            self._sender.close()


@pytest.fixture
def client(chat_runtime: Runtime, session_factory: sessionmaker[Session]) -> Iterator[TestClient]:
    """A client of the app with every channel mounted on the real engine (lifespan run); Telegram replies
    queued in the outbox are sent after each update, as a running worker would."""
    chat = Chatbot(chat_runtime, session_factory)
    c = WorkerBackedClient(
        build_channel_app(chat_runtime, session_factory, chat),
        session_factory=session_factory,
        settings=chat_runtime.settings,
        chat=chat,
    )
    with c:
        yield c
    c.close_sender()


@pytest.fixture
def wechat(chat_runtime: Runtime) -> WeChatPlatform:
    """The WeChat server side for the configured Official Account."""
    s = chat_runtime.settings
    return WeChatPlatform(WECHAT_TOKEN, app_id=s.wechat_app_id, aes_key=s.wechat_aes_key)


@pytest.fixture
def wecom(chat_runtime: Runtime) -> WeChatPlatform:
    """The WeCom server side for the configured corp."""
    return WeChatPlatform(WECOM_TOKEN, app_id=WECOM_CORP_ID, aes_key=WECOM_AES_KEY, wecom=True)


@pytest.fixture
def own_database(tmp_path: Path, city: CityConfig) -> Iterator[sessionmaker[Session]]:
    """Sessions on a database of the test's own, for tests where threads really commit concurrently
    (the savepoint fixture shares one connection, which threads must not use at the same time)."""
    from backend.services.reference import sync_reference, sync_staff

    url = f"sqlite:///{tmp_path / 'own.db'}"
    upgrade(url)
    eng = make_engine(url)
    with Session(eng) as session:
        sync_reference(session, city)
        sync_staff(session, city, demo_password=None)
        session.commit()
    yield make_session_factory(eng)
    eng.dispose()

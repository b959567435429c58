"""The local simulator (web page and terminal parsing) and the admin endpoint that issues bind codes."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.api.app import create_app
from backend.api.routes import admin
from backend.db.models import BindCode, Ticket
from backend.runtime import Runtime
from bot.console.cli import parse_input, render_lines
from bot.console.web import router as simulator_router
from bot.messages import Button, InboundKind, Outbound
from tests.conftest import DEMO_PASSWORD

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


@pytest.fixture
def app(runtime: Runtime, session_factory: sessionmaker[Session]) -> FastAPI:
    app = create_app(runtime, session_factory)
    app.include_router(simulator_router)
    app.include_router(admin.router)
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _token(client: TestClient, code: str) -> dict[str, str]:
    resp = client.post("/api/auth/token", data={"username": code, "password": DEMO_PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def test_simulator_page_is_served_without_any_cdn(client: TestClient) -> None:
    resp = client.get("/simulator")
    assert resp.status_code == 200
    assert "/simulator/api/send" in resp.text
    assert "http://" not in resp.text and "https://" not in resp.text


def test_simulator_reports_and_shows_the_workers_task_card(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    report = "怡和花园门口的垃圾桶满了好几天没人清运，臭得不行"
    resp = client.post("/simulator/api/send", json={"user": "sim1", "text": report})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "已受理" in body["replies"][0]["text"]
    with session_factory() as session:
        number = session.scalars(select(Ticket.number).order_by(Ticket.id.desc())).first()
    inbox = client.get("/simulator/api/inbox", params={"staff": "GW001"}).json()
    cards = [m for m in inbox["notifications"] if m["kind"] == "card"]
    assert cards and number in cards[0]["title"]
    accept = next(b for b in cards[0]["buttons"] if b["label"] == "接单")
    resp = client.post("/simulator/api/send", json={"staff": "GW001", "kind": "button", "data": accept["data"]})
    assert "已接单" in resp.json()["replies"][0]["text"]
    # The resident's next exchange shows the pushed progress.
    resp = client.post("/simulator/api/send", json={"user": "sim1", "text": "我的工单"})
    assert any("已有工作人员接单" in m["text"] for m in resp.json()["notifications"])


def test_simulator_takes_a_photo_and_rejects_bad_base64(client: TestClient) -> None:
    resp = client.post(
        "/simulator/api/send", json={"user": "sim2", "kind": "image", "photo_base64": base64.b64encode(PNG).decode()}
    )
    assert resp.status_code == 200 and "照片收到了" in resp.json()["replies"][0]["text"]
    resp = client.post("/simulator/api/send", json={"user": "sim2", "kind": "image", "photo_base64": "不是base64"})
    assert resp.status_code == 400


def test_simulator_refuses_odd_user_names(client: TestClient) -> None:
    assert client.post("/simulator/api/send", json={"user": "../../etc", "text": "hi"}).status_code == 422
    assert client.get("/simulator/api/inbox", params={"user": "a b"}).status_code == 422


def test_simulator_is_hidden_in_production(app: FastAPI, runtime: Runtime) -> None:
    app.state.runtime = dataclasses.replace(runtime, settings=runtime.settings.model_copy(update={"env": "production"}))
    with TestClient(app) as c:
        assert c.get("/simulator").status_code == 404
        assert c.post("/simulator/api/send", json={"text": "hi"}).status_code == 404


def test_admin_issues_a_bind_code_and_others_may_not(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    resp = client.post("/api/admin/staff/GW005/bind-code", headers=_token(client, "ADM01"))
    assert resp.status_code == 201, resp.text
    code = resp.json()["code"]
    with session_factory() as session:
        row = session.get(BindCode, code)
        assert row is not None and row.used_at is None
    assert client.post("/api/admin/staff/GW005/bind-code", headers=_token(client, "GW001")).status_code == 403
    assert client.post("/api/admin/staff/NOPE/bind-code", headers=_token(client, "ADM01")).status_code == 404
    assert client.post("/api/admin/staff/GW005/bind-code").status_code == 401


def test_terminal_numbers_press_buttons_and_commands_parse() -> None:
    buttons: list[Button] = []
    lines = render_lines([Outbound.choose("选一个", Button("满意", "rate:X:satisfied"))], buttons)
    assert lines == ["选一个", "  [1] 满意"]
    pressed = parse_input("1", buttons)
    assert pressed is not None and pressed.kind is InboundKind.button and pressed.data == "rate:X:satisfied"
    loc = parse_input("/loc 113.5895 34.73925 建设路", buttons)
    assert loc is not None and loc.kind is InboundKind.location and loc.lat == 34.73925 and loc.label == "建设路"
    assert parse_input("/loc nowhere", buttons).kind is InboundKind.unknown  # type: ignore[union-attr]
    assert parse_input("2", buttons).kind is InboundKind.text  # type: ignore[union-attr]  # no such button
    assert parse_input("/quit", buttons) is None

"""What the webhook fuzz found, one test per finding (tests/security/webhook_fuzzing.py, scripts/fuzz_long.py)."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.channels are parameters here)

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import ConversationState
from backend.texts import t
from bot.telegram.shape import check_update
from tests.fakes.channels import (  # noqa: F401  (fixtures)
    TELEGRAM_SECRET,
    chat_runtime,
    client,
    telegram_api,
    wechat,
    wechat_api,
    wecom,
)
from tests.fakes.telegram import location_update, photo_update, text_update
from tests.fakes.wechat import WeChatPlatform, message_xml
from tests.security.fuzzing import all_tables, row_counts
from tests.security.webhook_fuzzing import prepare

TELEGRAM = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}


def reply_text(wechat: WeChatPlatform, response_text: str) -> str:
    return wechat.open_reply(response_text).get("Content", "")


@pytest.mark.parametrize("create_time", ["99999999999999999", "²", "١٢٣", "1" * 40])
def test_a_create_time_datetime_cannot_hold_is_answered_not_500(
    client: TestClient, wechat: WeChatPlatform, create_time: str
) -> None:
    xml = message_xml("text", {"Content": "你好"}, from_user="oCreateTime", msg_id="7001").replace(
        f"<CreateTime>{int(time.time())}</CreateTime>", f"<CreateTime>{create_time}</CreateTime>"
    )
    signed = wechat.sign(xml)
    response = client.post("/wechat", params=signed.params, content=signed.body)
    assert response.status_code == 200
    assert reply_text(wechat, response.text) != t("error.internal", "zh")


def test_a_content_element_with_attributes_is_read_as_text(client: TestClient, wechat: WeChatPlatform) -> None:
    xml = message_xml("text", {}, from_user="oAttrs", msg_id="7002").replace(
        "</xml>", '<Content lang="zh"><![CDATA[你好]]></Content></xml>'
    )
    signed = wechat.sign(xml)
    response = client.post("/wechat", params=signed.params, content=signed.body)
    assert response.status_code == 200
    assert reply_text(wechat, response.text) != t("error.internal", "zh")


@pytest.mark.parametrize("content", ["😀", "😀😀 🙏", "\u200b"])
def test_a_message_that_normalises_to_nothing_gets_a_real_reply(
    client: TestClient, wechat: WeChatPlatform, content: str
) -> None:
    """The classifier crashed on a text with no characters left after normalisation (emoji only)."""
    signed = wechat.sign(message_xml("text", {"Content": content}, from_user="oEmoji", msg_id="7003"))
    response = client.post("/wechat", params=signed.params, content=signed.body)
    assert response.status_code == 200
    assert reply_text(wechat, response.text) != t("error.internal", "zh")


@pytest.mark.parametrize(
    "update",
    [
        {"update_id": 1, "message": {**text_update(1, "x")["message"], "chat": {"id": [], "type": "private"}}},
        {"update_id": 2, "message": {**text_update(2, "x")["message"], "date": 2**62}},
        {"update_id": 3, "message": {**text_update(3, "x")["message"], "text": {"a": 1}}},
        {
            "update_id": 4,
            "message": {
                **location_update(4, 34.7, 113.6)["message"],
                "venue": {"title": "t", "address": 5, "location": {"latitude": 34.7, "longitude": 113.6}},
            },
        },
        {
            "update_id": 5,
            "message": {**text_update(5, "x")["message"], "from": {"id": 6, "is_bot": False, "first_name": ["x"]}},
        },
    ],
    ids=["chat-id-list", "date-past-year-9999", "text-object", "venue-address-number", "name-list"],
)
def test_a_telegram_update_with_mistyped_fields_is_refused_by_the_shape_check(update: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        check_update(update)


def test_real_telegram_updates_pass_the_shape_check() -> None:
    for update in (text_update(1, "/start"), location_update(2, 34.7, 113.6), photo_update(3, "f", caption="c")):
        check_update(update)


@pytest.mark.parametrize("field", ["chat-id", "date"])
def test_a_telegram_update_with_mistyped_fields_is_400(client: TestClient, field: str) -> None:
    message = text_update(9101, "你好")["message"]
    message.update({"chat": {"id": [], "type": "private"}} if field == "chat-id" else {"date": 2**62})
    response = TestClient(client.app, raise_server_exceptions=False).post(
        "/telegram/webhook", json={"update_id": 9101, "message": message}, headers=TELEGRAM
    )
    assert response.status_code == 400


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999/x.jpg"])
def test_an_unusable_picurl_is_answered_not_500(client: TestClient, wechat: WeChatPlatform, url: str) -> None:
    signed = wechat.sign(message_xml("image", {"PicUrl": url, "MediaId": "m1"}, from_user="oPicUrl", msg_id="7004"))
    response = TestClient(client.app, raise_server_exceptions=False).post(
        "/wechat", params=signed.params, content=signed.body
    )
    assert response.status_code == 200


def test_a_wecom_message_with_a_non_numeric_agent_id_is_not_500(
    client: TestClient, wecom: WeChatPlatform, session_factory: sessionmaker[Session]
) -> None:
    """The passive reply to a bound staff member reads the message's AgentID as an integer."""
    prepare(session_factory, {})  # GW001 bound on WeCom
    xml = message_xml("text", {"Content": "你好"}, from_user="GW001", msg_id="7005").replace(
        "</xml>", "<AgentID>abc</AgentID></xml>"
    )
    signed = wecom.sign(xml)
    response = TestClient(client.app, raise_server_exceptions=False).post(
        "/wecom", params=signed.params, content=signed.body
    )
    assert response.status_code < 500


def test_the_nonce_of_an_ignored_event_cannot_be_replayed_with_another_body(
    client: TestClient, wechat: WeChatPlatform, session_factory: sessionmaker[Session]
) -> None:
    """Plain mode signs no body: an ignored event (a location report) must use up its nonce like any message."""
    event = wechat.sign(
        message_xml(
            "event",
            {"Event": "LOCATION", "Latitude": "34.7", "Longitude": "113.6", "Precision": "30"},
            from_user="oReplay",
        )
    )
    assert client.post("/wechat", params=event.params, content=event.body).text == "success"
    tables = all_tables(session_factory)
    before = row_counts(session_factory, tables)
    forged = message_xml("text", {"Content": "怡和花园3号楼燃气泄漏"}, from_user="oReplay", msg_id="7006").encode()
    response = client.post("/wechat", params=event.params, content=forged)
    assert response.status_code == 403
    assert row_counts(session_factory, tables) == before


@pytest.mark.parametrize("sender", ["", "o" * 129])
def test_a_sender_id_no_platform_sends_is_refused_and_stores_nothing(
    client: TestClient, wechat: WeChatPlatform, session_factory: sessionmaker[Session], sender: str
) -> None:
    signed = wechat.sign(message_xml("text", {"Content": "你好", "MsgId": 7100}, from_user=sender))
    before = row_counts(session_factory, all_tables(session_factory))
    assert client.post("/wechat", params=signed.params, content=signed.body).status_code == 400
    assert row_counts(session_factory, all_tables(session_factory)) == before


@pytest.mark.parametrize("x", ["inf", "-inf", "nan", "1e999"])
def test_a_location_that_is_not_a_finite_number_is_no_location(
    client: TestClient, wechat: WeChatPlatform, session_factory: sessionmaker[Session], x: str
) -> None:
    xml = message_xml(
        "location",
        {"Location_X": x, "Location_Y": "113.6", "Scale": "15", "Label": "某处"},
        from_user="oInfinity",
        msg_id="7200",
    )
    signed = wechat.sign(xml)
    response = client.post("/wechat", params=signed.params, content=signed.body)
    assert response.status_code == 200
    assert reply_text(wechat, response.text) != t("error.internal", "zh")
    with session_factory() as session:
        state = session.get(ConversationState, ("wechat", "oInfinity"))
        assert state is None or "inf" not in json.dumps(state.state).lower()

"""The Official Account webhook at /wechat, through the real engine, in plain and safe (AES) mode."""
# ruff: noqa: F811  (pytest fixtures imported from tests.fakes.channels are parameters here)

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.api.app import create_app
from backend.db.models import ConversationState, InboundMessage, Notification, Ticket
from backend.domain.notifications import NoticeKind
from backend.runtime import Runtime
from backend.texts import t
from backend.workers.outbox import drain_once
from bot.chatbot import Chatbot
from bot.messages import Inbound, InboundKind, Outbound
from bot.wechat.parse import to_inbound
from bot.wechat.send import WeChatSender, make_wechat_client
from bot.wechat.xmlsafe import safe_fields
from tests.bot.platform_drivers import passive_message
from tests.fakes.channels import (  # noqa: F401  (fixtures)
    chat_runtime,
    client,
    own_database,
    telegram_api,
    wechat,
    wechat_api,
    wechat_mode,
)
from tests.fakes.server import Answer
from tests.fakes.wechat import FakeWeChatAPI, WeChatPlatform, message_xml

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
OPENID = "oRESIDENT_wx_1"


def post(client: TestClient, wechat: WeChatPlatform, xml: str) -> dict[str, str]:
    """Post a signed message and open the passive reply as WeChat would."""
    signed = wechat.sign(xml)
    response = client.post("/wechat", params=signed.params, content=signed.body)
    assert response.status_code == 200, response.text
    return wechat.open_reply(response.text)


def state_of(session_factory: sessionmaker[Session], openid: str) -> dict[str, object]:
    with session_factory() as session:
        row = session.get(ConversationState, ("wechat", openid))
        return dict(row.state) if row else {}


def test_url_verification_echoes_echostr(client: TestClient, wechat: WeChatPlatform) -> None:
    response = client.get("/wechat", params=wechat.verify_params("echo-42"))
    assert response.status_code == 200
    assert response.text == "echo-42"


def test_url_verification_with_a_wrong_signature_is_refused(client: TestClient, wechat: WeChatPlatform) -> None:
    params = {**wechat.verify_params("echo-42"), "signature": "0" * 40}
    assert client.get("/wechat", params=params).status_code == 403


def test_follow_gets_the_welcome_as_passive_reply(client: TestClient, wechat: WeChatPlatform, wechat_mode: str) -> None:
    reply = post(client, wechat, message_xml("event", {"Event": "subscribe"}, from_user=OPENID))
    assert reply["MsgType"] == "text"
    assert reply["ToUserName"] == OPENID
    assert reply["Content"] == t("welcome", "zh")


def test_location_x_is_read_as_latitude(
    client: TestClient, wechat: WeChatPlatform, wechat_mode: str, session_factory: sessionmaker[Session]
) -> None:
    reply = post(
        client,
        wechat,
        message_xml(
            "location",
            {"Location_X": "34.73925", "Location_Y": "113.5895", "Scale": 15, "Label": "怡和花园"},
            from_user=OPENID,
            msg_id="7001",
        ),
    )
    assert reply["Content"] == t("report.location_first", "zh")
    data = state_of(session_factory, OPENID)["data"]
    assert isinstance(data, dict)
    assert (data["lat"], data["lon"], data["label"]) == (34.73925, 113.5895, "怡和花园")


def test_voice_uses_the_recognised_text(
    client: TestClient, wechat: WeChatPlatform, session_factory: sessionmaker[Session]
) -> None:
    said = "怡和花园门口的垃圾好几天没人清运了"
    reply = post(
        client,
        wechat,
        message_xml("voice", {"MediaId": "m1", "Format": "amr", "Recognition": said}, from_user=OPENID, msg_id="7002"),
    )
    assert reply["Content"] != t("voice.empty", "zh")
    in_progress = state_of(session_factory, OPENID).get("data") or {}
    with session_factory() as session:
        reported = set(session.scalars(select(Ticket.text)).all())
    assert said in reported | {in_progress.get("text")}  # type: ignore[union-attr]


def test_voice_without_recognition_asks_again(client: TestClient, wechat: WeChatPlatform) -> None:
    reply = post(
        client,
        wechat,
        message_xml("voice", {"MediaId": "m1", "Format": "amr", "Recognition": ""}, from_user=OPENID, msg_id="7003"),
    )
    assert reply["Content"] == t("voice.empty", "zh")


def test_image_is_fetched_from_picurl(client: TestClient, wechat: WeChatPlatform, wechat_api: FakeWeChatAPI) -> None:
    wechat_api.script.push("/pic/1.png", Answer(200, PNG, "image/png"))
    reply = post(
        client,
        wechat,
        message_xml(
            "image", {"PicUrl": f"{wechat_api.url}/pic/1.png", "MediaId": "m9"}, from_user=OPENID, msg_id="7004"
        ),
    )
    assert wechat_api.calls_to("/pic/1.png")
    assert reply["Content"] == t("report.photo_first", "zh")


def test_a_questions_buttons_come_in_the_passive_reply_as_menu_links_and_a_tap_answers_it(
    client: TestClient, wechat: WeChatPlatform, wechat_api: FakeWeChatAPI, session_factory: sessionmaker[Session]
) -> None:
    reply = post(
        client, wechat, message_xml("text", {"Content": "门口的路灯坏了好几天了"}, from_user=OPENID, msg_id="7005")
    )
    question = passive_message(reply["Content"])  # as the WeChat client shows it
    assert question.buttons and question.text and "<a" not in question.text
    assert _reply_rows(session_factory) == [] and not wechat_api.sent("message/custom/send")  # nothing to push
    first = question.buttons[0]
    tap = message_xml("text", {"Content": first.label, "bizmsgmenuid": first.data}, from_user=OPENID, msg_id="7006")
    estates = passive_message(post(client, wechat, tap)["Content"])
    assert estates.text.startswith(t("report.pick_estate", "zh", community=first.label))  # the tap was understood


def test_buttons_of_a_reply_past_the_passive_answer_go_out_as_a_customer_service_menu(
    chat_runtime: Runtime, own_database: sessionmaker[Session], wechat: WeChatPlatform, wechat_api: FakeWeChatAPI
) -> None:
    client, _ = _slow_app(chat_runtime, own_database, 0.6, reply_budget=0.1, ack_deadline=30.0)
    with client as c:
        signed = wechat.sign(
            message_xml("text", {"Content": "门口的路灯坏了好几天了"}, from_user=OPENID, msg_id="7005")
        )
        assert c.post("/wechat", params=signed.params, content=signed.body).text == "success"
    assert [r.key for r in _reply_rows(own_database)] == ["wechat:reply:7005"]
    sender = WeChatSender(make_wechat_client(chat_runtime.settings))
    result = drain_once(own_database, {"wechat": sender}, worker_id="w")  # the resident just wrote: window open
    sender.close()
    assert result.sent == 1
    (menu,) = [m for m in wechat_api.sent("message/custom/send") if m["msgtype"] == "msgmenu"]
    assert menu["touser"] == OPENID and menu["msgmenu"]["head_content"]  # the question with its choices
    items = menu["msgmenu"]["list"]
    assert items and all(i["id"] and i["content"] for i in items)
    assert wechat_api.calls_to("/cgi-bin/token"), "the token must come from the configured API base"


def test_a_menu_tap_arrives_as_a_button_press() -> None:
    xml = message_xml(
        "text", {"Content": "丰产路社区", "bizmsgmenuid": "community:LC0101"}, from_user=OPENID, msg_id="9"
    )
    inbound = to_inbound(None, safe_fields(xml), channel="wechat")
    assert inbound is not None
    assert (inbound.kind, inbound.data, inbound.message_id) == (InboundKind.button, "community:LC0101", "9")


def test_events_without_msgid_dedupe_on_sender_and_time() -> None:
    xml = message_xml("event", {"Event": "subscribe"}, from_user=OPENID, create_time=1700000000)
    inbound = to_inbound(None, safe_fields(xml), channel="wechat")
    assert inbound is not None and inbound.kind is InboundKind.follow
    assert inbound.message_id == f"{OPENID}:1700000000:subscribe"


class SlowEngine:
    """The real engine behind a delay, as under a load spike."""

    def __init__(self, engine: Chatbot, delay: float) -> None:
        self.engine, self.delay = engine, delay
        self.calls = 0

    def handle_once(
        self,
        inbound: Inbound,
        *,
        outbox: Callable[[list[Outbound]], list[Outbound]] | None = None,
    ) -> list[Outbound]:
        self.calls += 1
        time.sleep(self.delay)
        return self.engine.handle_once(inbound, outbox=outbox)


def _slow_app(
    chat_runtime: Runtime,
    session_factory: sessionmaker[Session],
    delay: float,
    **deadlines: float,
) -> tuple[TestClient, SlowEngine]:
    from bot.wechat.route import wechat_router

    app = create_app(chat_runtime, session_factory)
    slow = SlowEngine(Chatbot(chat_runtime, session_factory), delay=delay)
    app.include_router(
        wechat_router(settings=chat_runtime.settings, chatbot=slow, session_factory=session_factory, **deadlines)
    )
    return TestClient(app), slow


def _reply_rows(session_factory: sessionmaker[Session]) -> list[Notification]:
    with session_factory() as session:
        return list(session.scalars(select(Notification).where(Notification.kind == NoticeKind.chat_reply)))


def test_a_slow_answer_is_acknowledged_once_committed_with_its_reply_in_the_outbox(
    chat_runtime: Runtime, own_database: sessionmaker[Session], wechat: WeChatPlatform
) -> None:
    # A deadline far past the turn: a loaded CI machine once took the 0.6 s turn past a 3 s one.
    client, _ = _slow_app(chat_runtime, own_database, 0.6, reply_budget=0.1, ack_deadline=30.0)
    with client as c:
        signed = wechat.sign(message_xml("event", {"Event": "subscribe"}, from_user=OPENID))
        response = c.post("/wechat", params=signed.params, content=signed.body)
        assert response.text == "success"
        rows = _reply_rows(own_database)  # already there when WeChat is told "success"
    assert [(r.external_id, r.payload["messages"][0]["text"]) for r in rows] == [(OPENID, t("welcome", "zh"))]


def test_a_turn_past_the_deadline_asks_for_a_redelivery_which_waits_for_the_same_turn(
    chat_runtime: Runtime, own_database: sessionmaker[Session], wechat: WeChatPlatform
) -> None:
    client, slow = _slow_app(chat_runtime, own_database, 1.0, reply_budget=0.1, ack_deadline=0.3)
    with client as c:
        signed = wechat.sign(message_xml("text", {"Content": "帮助"}, from_user=OPENID, msg_id="8801"))
        first = c.post("/wechat", params=signed.params, content=signed.body)
        assert first.status_code == 503  # not stored yet: WeChat will deliver it again
        assert _reply_rows(own_database) == []
        statuses = []
        while not statuses or statuses[-1] != 200 and len(statuses) < 30:  # as WeChat keeps retrying
            retry = c.post("/wechat", params=signed.params, content=signed.body)
            statuses.append(retry.status_code)
        assert set(statuses[:-1]) <= {503} and statuses[-1] == 200
        assert retry.text == "success"
    assert slow.calls == 1
    assert [r.key for r in _reply_rows(own_database)] == ["wechat:reply:8801"]


def test_settings_outside_safe_mode_refuse_encrypted_posts(client: TestClient, chat_runtime: Runtime) -> None:
    aes = WeChatPlatform("wx-test-token", app_id=chat_runtime.settings.wechat_app_id, aes_key="a" * 43)
    signed = aes.sign(message_xml("text", {"Content": "hi"}, from_user=OPENID, msg_id="1"))
    assert client.post("/wechat", params=signed.params, content=signed.body).status_code == 400


def test_a_copy_arriving_mid_turn_waits_for_it_and_is_acknowledged_once_it_is_stored(
    chat_runtime: Runtime, own_database: sessionmaker[Session], wechat: WeChatPlatform
) -> None:
    client, slow = _slow_app(chat_runtime, own_database, 0.5, reply_budget=30.0, ack_deadline=30.0)
    signed = wechat.sign(message_xml("text", {"Content": "帮助"}, from_user=OPENID, msg_id="8802"))
    copy: dict[str, object] = {}

    def deliver_copy() -> None:
        time.sleep(0.2)  # the first delivery's turn is running
        response = c.post("/wechat", params=signed.params, content=signed.body)
        copy["answer"] = (response.status_code, response.text)
        with own_database() as session:
            copy["stored"] = session.scalar(select(InboundMessage.id).where(InboundMessage.message_key == "8802"))

    with client as c:
        thread = threading.Thread(target=deliver_copy)
        thread.start()
        first = c.post("/wechat", params=signed.params, content=signed.body)
        thread.join()
    assert first.status_code == 200 and "<xml>" in first.text  # the passive reply
    assert copy["answer"] == (200, "success")
    assert copy["stored"] is not None  # acknowledged only once the first delivery's turn had committed
    assert slow.calls == 1

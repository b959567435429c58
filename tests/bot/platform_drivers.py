"""Transcript drivers for the real adapters: WeChat, WeCom and Telegram, each posting through its webhook on
the app (TestClient) and reading what the fake platform server recorded, outbox deliveries included.

They implement tests.bot.drivers.Driver. Passive replies come from the HTTP response; buttons, cards and
notifications come from outbox rows delivered by the channel's real sender to the fake server, then read
back from the fake's records — so a transcript sees what a user of that platform would see.
"""

from __future__ import annotations

import dataclasses
import html
import itertools
import logging
import re
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import ChannelIdentity, Notification, Staff
from backend.db.types import utcnow
from backend.domain.notifications import NoticeKind
from backend.runtime import Runtime
from backend.workers.channels import ChannelError, Sender
from backend.workers.outbox import delivery_of
from bot.messages import Button, Inbound, InboundKind, Outbound, OutboundKind
from tests.fakes.channels import (
    TELEGRAM_SECRET,
    WECHAT_TOKEN,
    WECOM_AES_KEY,
    WECOM_CORP_ID,
    WECOM_TOKEN,
    build_channel_app,
    channel_settings,
)
from tests.fakes.server import Answer, Call
from tests.fakes.telegram import BOT_USER, FakeTelegramAPI, callback_update, location_update, photo_update, user
from tests.fakes.wechat import FakeWeChatAPI, WeChatPlatform, message_xml, read_menu_links

logger = logging.getLogger(__name__)

Who = tuple[str, str]


class _PlatformDriver:
    """What the three drivers share: fakes, the app, identities and outbox delivery."""

    channel = ""

    def __init__(self, runtime: Runtime, session_factory: sessionmaker[Session], **settings: Any) -> None:
        self.wechat_api = FakeWeChatAPI().start()
        self.telegram_api = FakeTelegramAPI().start()
        assert isinstance(self.wechat_api, FakeWeChatAPI) and isinstance(self.telegram_api, FakeTelegramAPI)
        self.runtime = dataclasses.replace(
            runtime, settings=channel_settings(runtime.settings, self.wechat_api, self.telegram_api, **settings)
        )
        self.session_factory = session_factory
        self.client = TestClient(build_channel_app(self.runtime, session_factory))
        self.client.__enter__()
        self.sender = self.make_sender()
        self._seq = itertools.count(1)
        self._seen_calls = 0
        self._staff: dict[str, str] | None = None
        self._staff_ids()

    def make_sender(self) -> Sender:
        raise NotImplementedError

    def external_id(self, who: Who) -> str:
        """The platform user id of a participant."""
        role, name = who
        if role == "staff":
            return self._staff_ids()[name]
        return self.resident_id(name)

    def _staff_ids(self) -> dict[str, str]:
        """Staff reachable only on this driver's channel: other chat identities dropped, missing ones bound.

        Notifications pick a person's preferred channel when they are written, so this happens before
        the first message, inside the test's transaction.
        """
        if self._staff is not None:
            return self._staff
        with self.session_factory() as session:
            staff = session.scalars(select(Staff)).all()
            people = [st.person_id for st in staff]
            session.execute(
                delete(ChannelIdentity).where(
                    ChannelIdentity.person_id.in_(people),
                    ChannelIdentity.channel != self.channel,
                    ChannelIdentity.channel.in_(("wechat", "wecom", "telegram")),
                )
            )
            existing = dict(
                session.execute(
                    select(ChannelIdentity.person_id, ChannelIdentity.external_id).where(
                        ChannelIdentity.person_id.in_(people), ChannelIdentity.channel == self.channel
                    )
                ).all()
            )
            for st in staff:
                if st.person_id not in existing:
                    existing[st.person_id] = self.staff_id(st.code)
                    session.add(
                        ChannelIdentity(
                            person_id=st.person_id, channel=self.channel, external_id=existing[st.person_id]
                        )
                    )
            session.commit()
            self._staff = {st.code: existing[st.person_id] for st in staff}
        return self._staff

    def resident_id(self, name: str) -> str:
        return f"o-{name}"

    def staff_id(self, code: str) -> str:
        return code

    def deliver_pending(self, ext: str, *, replies_only: bool) -> None:
        """Send this user's pending outbox rows through the real sender to the fake, oldest first."""
        with self.session_factory() as session:
            query = select(Notification).where(
                Notification.channel == self.channel, Notification.external_id == ext, Notification.status == "pending"
            )
            if replies_only:
                query = query.where(Notification.kind == NoticeKind.chat_reply)
            rows = session.scalars(query.order_by(Notification.id)).all()
            for row in rows:
                try:
                    # As if every transcript user wrote just now: WeChat's window is tested in test_wechat_send.
                    self.sender.send(delivery_of(row, last_inbound_at=utcnow()))
                    row.status, row.sent_at = "sent", utcnow()
                except ChannelError as exc:
                    row.status, row.last_error = "dead", str(exc)
            session.commit()

    def new_calls(self) -> list[Call]:
        """Calls the fakes recorded since the last look."""
        calls = list(self.wechat_api.calls) + list(self.telegram_api.calls)
        calls.sort(key=lambda c: c.at)
        fresh = calls[self._seen_calls :]
        self._seen_calls = len(calls)
        return fresh

    def inbox(self, who: Who) -> list[Outbound]:
        ext = self.external_id(who)
        self.new_calls()
        self.deliver_pending(ext, replies_only=False)
        return self.read_calls(ext, self.new_calls())

    def read_calls(self, ext: str, calls: list[Call]) -> list[Outbound]:
        raise NotImplementedError

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        close = getattr(self.sender, "close", None)
        if close is not None:
            close()
        self.wechat_api.stop()
        self.telegram_api.stop()


class WeChatDriver(_PlatformDriver):
    """Residents (and staff, if a transcript wants) on the Official Account, plain mode."""

    channel = "wechat"

    def __init__(self, runtime: Runtime, session_factory: sessionmaker[Session]) -> None:
        super().__init__(runtime, session_factory, telegram_token=SecretStr(""), wecom_aes_key="")
        self.platform = WeChatPlatform(WECHAT_TOKEN, app_id=self.runtime.settings.wechat_app_id)

    def make_sender(self) -> Sender:
        from bot.wechat.send import WeChatSender, make_wechat_client

        return WeChatSender(make_wechat_client(self.runtime.settings))

    def staff_id(self, code: str) -> str:
        return f"o-staff-{code}"

    def xml(self, ext: str, message: Inbound) -> str:
        msg_id = str(next(self._seq) + 10_000)
        kind = message.kind
        if kind is InboundKind.text:
            return message_xml("text", {"Content": message.text}, from_user=ext, msg_id=msg_id)
        if kind is InboundKind.voice:
            return message_xml(
                "voice", {"MediaId": "v", "Format": "amr", "Recognition": message.text}, from_user=ext, msg_id=msg_id
            )
        if kind is InboundKind.location:
            return message_xml(
                "location",
                {"Location_X": str(message.lat), "Location_Y": str(message.lon), "Scale": 15, "Label": message.label},
                from_user=ext,
                msg_id=msg_id,
            )
        if kind is InboundKind.image:
            path = f"/pic/{msg_id}.png"
            self.wechat_api.script.push(path, Answer(200, message.image or b"", "image/png"))
            return message_xml(
                "image", {"PicUrl": self.wechat_api.url + path, "MediaId": f"m{msg_id}"}, from_user=ext, msg_id=msg_id
            )
        if kind is InboundKind.button:
            return message_xml(
                "text",
                {"Content": message.text or message.data, "bizmsgmenuid": message.data},
                from_user=ext,
                msg_id=msg_id,
            )
        if kind is InboundKind.follow:
            return message_xml("event", {"Event": "subscribe"}, from_user=ext)
        if kind is InboundKind.unfollow:
            return message_xml("event", {"Event": "unsubscribe"}, from_user=ext)
        return message_xml("miniprogrampage", {"Title": "t", "AppId": "wx1"}, from_user=ext, msg_id=msg_id)

    def send(self, who: Who, message: Inbound) -> list[Outbound]:
        ext = self.external_id(who)
        return self.post(ext, self.xml(ext, message))

    def send_raw(self, who: Who, fields: dict[str, Any]) -> list[Outbound]:
        """Post a message or event given as its XML fields (MsgType included), as the platform shapes it."""
        ext = self.external_id(who)
        return self.post(ext, raw_xml(ext, fields, msg_id=str(next(self._seq) + 10_000)))

    def post(self, ext: str, xml: str) -> list[Outbound]:
        """Sign and post one message; the passive reply and what the sender delivered to this user."""
        signed = self.platform.sign(xml)
        response = self.client.post("/wechat", params=signed.params, content=signed.body)
        assert response.status_code == 200, response.text
        reply = self.platform.open_reply(response.text)
        out = [passive_message(reply["Content"])] if reply.get("Content") else []
        self.new_calls()
        self.deliver_pending(ext, replies_only=True)
        return out + self.read_calls(ext, self.new_calls())

    def read_calls(self, ext: str, calls: list[Call]) -> list[Outbound]:
        out: list[Outbound] = []
        for call in calls:
            if call.method != "POST" or not call.path.endswith("/send"):
                continue
            body = call.json()
            if body.get("touser") != ext:
                continue
            if body.get("msgtype") == "text":
                out.append(Outbound.say(body["text"]["content"]))
            elif body.get("msgtype") == "msgmenu":
                menu = body["msgmenu"]
                out.append(
                    Outbound.choose(
                        menu.get("head_content", ""), *(Button(i["content"], i["id"]) for i in menu["list"])
                    )
                )
            elif "template_id" in body:
                out.append(Outbound.say(body["data"]["first"]["value"]))
        return out


def passive_message(content: str) -> Outbound:
    """A passive text reply as the resident sees it: its text, and its menu links as buttons."""
    text, links = read_menu_links(content)
    return Outbound.choose(text, *(Button(label, data) for label, data in links)) if links else Outbound.say(content)


class WeComDriver(_PlatformDriver):
    """Staff (and residents, if a transcript wants) in the WeCom app; cards pressed as template_card_event."""

    channel = "wecom"

    def __init__(self, runtime: Runtime, session_factory: sessionmaker[Session]) -> None:
        super().__init__(runtime, session_factory, telegram_token=SecretStr(""))
        self.platform = WeChatPlatform(WECOM_TOKEN, app_id=WECOM_CORP_ID, aes_key=WECOM_AES_KEY, wecom=True)

    def make_sender(self) -> Sender:
        from bot.wecom.send import WeComSender, make_wecom_client

        return WeComSender(make_wecom_client(self.runtime.settings), agent_id=self.runtime.settings.wecom_agent_id)

    def resident_id(self, name: str) -> str:
        return f"res-{name}"

    def xml(self, ext: str, message: Inbound) -> str:
        n = next(self._seq)
        agent = self.runtime.settings.wecom_agent_id
        common: dict[str, Any] = {"from_user": ext, "to_user": WECOM_CORP_ID, "agent_id": agent}
        kind = message.kind
        if kind is InboundKind.button:
            return message_xml(
                "event",
                {
                    "Event": "template_card_event",
                    "EventKey": message.data,
                    "TaskId": f"task_{n}",
                    "CardType": "button_interaction",
                    "ResponseCode": f"rc{n}",
                },
                **common,
            )
        if kind is InboundKind.location:
            return message_xml(
                "location",
                {"Location_X": str(message.lat), "Location_Y": str(message.lon), "Scale": 15, "Label": message.label},
                msg_id=str(20_000 + n),
                **common,
            )
        if kind is InboundKind.image:
            path = f"/pic/w{n}.png"
            self.wechat_api.script.push(path, Answer(200, message.image or b"", "image/png"))
            return message_xml(
                "image", {"PicUrl": self.wechat_api.url + path, "MediaId": f"m{n}"}, msg_id=str(20_000 + n), **common
            )
        if kind is InboundKind.follow:
            return message_xml("event", {"Event": "subscribe"}, **common)
        if kind in (InboundKind.text, InboundKind.voice):
            return message_xml("text", {"Content": message.text}, msg_id=str(20_000 + n), **common)
        return message_xml("miniprogrampage", {"Title": "t", "AppId": "wx1"}, msg_id=str(20_000 + n), **common)

    def send(self, who: Who, message: Inbound) -> list[Outbound]:
        ext = self.external_id(who)
        return self.post(ext, self.xml(ext, message))

    def send_raw(self, who: Who, fields: dict[str, Any]) -> list[Outbound]:
        """Post an application message or event given as its XML fields (MsgType included)."""
        ext = self.external_id(who)
        agent = self.runtime.settings.wecom_agent_id
        xml = raw_xml(ext, fields, msg_id=str(20_000 + next(self._seq)), to_user=WECOM_CORP_ID, agent_id=agent)
        return self.post(ext, xml)

    def post(self, ext: str, xml: str) -> list[Outbound]:
        """Sign, encrypt and post one message; the passive reply and what the sender delivered to this user."""
        signed = self.platform.sign(xml)
        response = self.client.post("/wecom", params=signed.params, content=signed.body)
        assert response.status_code == 200, response.text
        reply = self.platform.open_reply(response.text)
        out = [Outbound.say(reply["Content"])] if reply.get("Content") else []
        if reply.get("MsgType") == "update_button":  # the pressed card button, relabelled
            label = re.search(r"<ReplaceName><!\[CDATA\[(.*?)\]\]></ReplaceName>", reply.get("Button", ""))
            out.append(Outbound(OutboundKind.card_label, text=label.group(1) if label else ""))
        self.new_calls()
        self.deliver_pending(ext, replies_only=True)
        return out + self.read_calls(ext, self.new_calls())

    def read_calls(self, ext: str, calls: list[Call]) -> list[Outbound]:
        out: list[Outbound] = []
        for call in calls:
            if call.method != "POST" or not call.path.endswith("message/send"):
                continue
            body = call.json()
            if body.get("touser") != ext:
                continue
            if body["msgtype"] == "text":
                out.append(Outbound.say(body["text"]["content"]))
            elif body["msgtype"] == "template_card":
                card = body["template_card"]
                out.append(
                    Outbound(
                        OutboundKind.card,
                        title=card.get("main_title", {}).get("title", ""),
                        text=card.get("sub_title_text", ""),
                        buttons=tuple(Button(b["text"], b["key"]) for b in card["button_list"]),
                    )
                )
        return out


class TelegramDriver(_PlatformDriver):
    """Anyone on Telegram: replies and notifications are queued in the outbox and sent by the real sender."""

    channel = "telegram"

    def __init__(self, runtime: Runtime, session_factory: sessionmaker[Session]) -> None:
        self._ids: dict[str, int] = {}
        self._named: dict[str, int] = {}
        self._last_bot_message = 5001
        super().__init__(runtime, session_factory, wecom_aes_key="")

    def make_sender(self) -> Sender:
        from bot.telegram.send import TelegramSender

        return TelegramSender.from_settings(self.runtime.settings)

    def _numeric(self, key: str) -> str:
        return str(self._ids.setdefault(key, 100_000 + len(self._ids)))

    def resident_id(self, name: str) -> str:
        return self._numeric("resident:" + name)

    def staff_id(self, code: str) -> str:
        return self._numeric("staff:" + code)

    def update(self, ext: str, message: Inbound) -> dict[str, Any]:
        uid, n = int(ext), 900_000 + next(self._seq)
        kind = message.kind
        if kind is InboundKind.button:
            return callback_update(n, message.data, uid=uid, message_id=self._last_bot_message)
        if kind is InboundKind.location:
            update = location_update(n, float(message.lat or 0), float(message.lon or 0), uid=uid)
            if message.label:  # a labelled pin is what Telegram sends as a venue
                loc = update["message"]["location"]
                update["message"]["venue"] = {"location": loc, "title": message.label, "address": ""}
            return update
        if kind is InboundKind.image:
            self.telegram_api.files[f"F{n}"] = message.image or b""
            return photo_update(n, f"F{n}", uid=uid, caption=message.text or None)
        if kind is InboundKind.group:
            return group_update(n, uid, message.text, how=message.data)
        msg: dict[str, Any] = {
            "message_id": n,
            "date": 1795000000,
            "chat": {"id": uid, "type": "private"},
            "from": user(uid, message.language or "zh-hans"),
        }
        if kind is InboundKind.follow:
            msg.update(text="/start", entities=[{"type": "bot_command", "offset": 0, "length": 6}])
        elif kind in (InboundKind.text, InboundKind.voice):
            msg["text"] = message.text
        else:
            msg["sticker"] = {
                "file_id": "s",
                "file_unique_id": "s",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            }
        return {"update_id": n, "message": msg}

    def send(self, who: Who, message: Inbound) -> list[Outbound]:
        ext = self.external_id(who)
        # A group message is answered in the group: read what the bot said there.
        chat = str(GROUP_CHAT) if message.kind is InboundKind.group else ext
        return self.post(chat, self.update(ext, message))

    def send_raw(self, who: Who, fields: dict[str, Any]) -> list[Outbound]:
        """Post a private message given as a Telegram message's fields; `name` remembers its message_id and
        `edit_of` sends it as an edited_message of a remembered one. A document's file serves the test PNG."""
        ext = self.external_id(who)
        uid, n = int(ext), 900_000 + next(self._seq)
        rest = dict(fields)
        name, edit_of = rest.pop("name", None), rest.pop("edit_of", None)
        msg: dict[str, Any] = {
            "message_id": self._named[str(edit_of)] if edit_of else n,
            "date": 1795000000,
            "chat": {"id": uid, "type": "private"},
            "from": user(uid),
            **rest,
        }
        if edit_of:
            msg.setdefault("edit_date", 1795000000 + n % 1000)
        if name:
            self._named[str(name)] = msg["message_id"]
        if isinstance(msg.get("document"), dict):
            self.telegram_api.files[str(msg["document"]["file_id"])] = PNG
        return self.post(ext, {"update_id": n, "edited_message" if edit_of else "message": msg})

    def post(self, chat: str, update: dict[str, Any]) -> list[Outbound]:
        """Post one update to the webhook; what the sender then delivered to this chat."""
        self.new_calls()
        response = self.client.post(
            "/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
        )
        assert response.status_code == 200, response.text
        self.deliver_pending(chat, replies_only=True)
        return self.read_calls(chat, self.new_calls())

    def read_calls(self, ext: str, calls: list[Call]) -> list[Outbound]:
        out: list[Outbound] = []
        for call in calls:
            if call.path.startswith("/file/") or not call.path.endswith(("/sendMessage", "/sendPhoto")):
                continue
            params = self.telegram_api.params(call)
            if str(params.get("chat_id")) != ext:
                continue
            self._last_bot_message += 1
            text = html.unescape(str(params.get("text") or params.get("caption") or ""))
            title = ""
            if text.startswith("<b>") and "</b>" in text:
                title, _, text = text[3:].partition("</b>")
                text = text.lstrip("\n")
            markup = params.get("reply_markup") or {}
            if any(b.get("request_location") for row in markup.get("keyboard", []) for b in row):
                out.append(Outbound(OutboundKind.location_request, text=text))
                continue
            buttons = tuple(
                Button(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row
            )
            kind = OutboundKind.card if title else (OutboundKind.buttons if buttons else OutboundKind.text)
            out.append(Outbound(kind, title=title, text=text, buttons=buttons))
        return out


def raw_xml(ext: str, fields: dict[str, Any], *, msg_id: str, **common: Any) -> str:
    """A transcript's raw WeChat/WeCom message: its fields as written, a MsgId unless it is an event."""
    rest = dict(fields)
    msg_type = str(rest.pop("MsgType"))
    return message_xml(msg_type, rest, from_user=ext, msg_id=None if msg_type == "event" else msg_id, **common)


# The smallest PNG: what a document sent as a file serves when a transcript's step names one.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
GROUP_CHAT = -1001234567890  # the community supergroup of the group transcripts


def group_update(update_id: int, uid: int, text: str, *, how: str) -> dict[str, Any]:
    """A supergroup message as Telegram sends it: `how` says whether it is meant for the bot
    ("mention", "reply", "command") or not ("none")."""
    msg: dict[str, Any] = {
        "message_id": update_id,
        "date": 1795000000,
        "chat": {"id": GROUP_CHAT, "type": "supergroup", "title": "丰产路邻里群"},
        "from": user(uid),
        "text": text,
    }
    mention = "@" + str(BOT_USER["username"])
    if how == "mention":
        msg["text"] = f"{mention} {text}"
        msg["entities"] = [{"type": "mention", "offset": 0, "length": len(mention)}]
    elif how == "command":
        command = f"/report{mention}"
        msg["text"] = f"{command} {text}"
        msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    elif how == "reply":
        msg["reply_to_message"] = {"message_id": 1, "date": 1795000000, "chat": msg["chat"], "from": BOT_USER}
    return {"update_id": update_id, "message": msg}

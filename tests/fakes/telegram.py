"""A fake Telegram Bot API on 127.0.0.1: getMe, sendMessage, getFile and file download, getUpdates …

PTB posts to <base_url><token>/<method>, form-encoded or JSON (nested values such as reply_markup
arrive as JSON strings in forms). Every call is recorded; `script` queues failures (429, 500, 403).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from typing import Any

from tests.fakes.server import Answer, Call, FakeServer, Script

BOT_USER = {"id": 999000, "is_bot": True, "first_name": "GridBot", "username": "gridbot_test_bot"}


def tg_error(status: int, description: str, retry_after: int | None = None) -> Answer:
    """A Bot API error answer (429 carries parameters.retry_after)."""
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return Answer.json(body, status=status)


class FakeTelegramAPI(FakeServer):
    """The Bot API, recording (method, params) for every call."""

    def __init__(self) -> None:
        super().__init__()
        self.script = Script()
        self.files: dict[str, bytes] = {}
        self.pending_updates: list[dict[str, Any]] = []
        self._next_id = 5000
        self._lock3 = threading.Lock()

    @property
    def base_url(self) -> str:
        """What to set as telegram_api_base (the token is appended)."""
        return self.url + "/bot"

    @property
    def base_file_url(self) -> str:
        """Where files are downloaded from."""
        return self.url + "/file/bot"

    @staticmethod
    def params(call: Call) -> dict[str, Any]:
        """A call's parameters, JSON-encoded nested values decoded."""
        ctype = call.headers.get("content-type", "")
        raw = call.body.decode("utf-8", "replace")
        if "json" in ctype:
            return dict(json.loads(raw or "{}"))
        if "multipart" in ctype:
            return {"_multipart": True}
        params: dict[str, Any] = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
        for k, v in list(params.items()):
            if v[:1] in "{[":
                params[k] = json.loads(v)
        return params

    def method_of(self, call: Call) -> str:
        """The Bot API method a call is for."""
        return call.path.rsplit("/", 1)[-1]

    def route(self, call: Call) -> Answer:
        if call.path.startswith("/file/bot"):
            name = call.path.rsplit("/", 1)[-1]
            data = self.files.get(name)
            return Answer(200, data, "application/octet-stream") if data is not None else Answer(404, b"")
        method = self.method_of(call)
        scripted = self.script.pop("/" + method)
        if scripted is not None:
            return scripted
        params = self.params(call)
        body = self.answer(method, params)
        # Like the Bot API, a failed call carries its error code as the HTTP status too (PTB reads the status).
        return Answer.json(body, status=200 if body.get("ok") else int(body.get("error_code", 400)))

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The successful answer to a method."""
        if method == "getMe":
            return {"ok": True, "result": BOT_USER}
        if method in ("sendMessage", "sendPhoto", "sendLocation", "editMessageText"):
            with self._lock3:
                self._next_id += 1
                mid = self._next_id
            msg: dict[str, Any] = {
                "message_id": int(params.get("message_id", mid)),
                "date": int(time.time()),
                "from": BOT_USER,
                "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
                "text": params.get("text", ""),
            }
            return {"ok": True, "result": msg}
        if method == "getFile":
            file_id = str(params.get("file_id", ""))
            if file_id not in self.files:
                return {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
            return {
                "ok": True,
                "result": {
                    "file_id": file_id,
                    "file_unique_id": "u" + file_id,
                    "file_size": len(self.files[file_id]),
                    "file_path": file_id,
                },
            }
        if method == "getUpdates":
            offset = int(params.get("offset", 0) or 0)
            with self._lock3:
                updates = [u for u in self.pending_updates if u["update_id"] >= offset]
            if not updates:
                time.sleep(0.05)
            return {"ok": True, "result": updates}
        if method in ("answerCallbackQuery", "setWebhook", "deleteWebhook", "setMyCommands"):
            return {"ok": True, "result": True}
        return {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    def sent(self, method: str) -> list[dict[str, Any]]:
        """The parameters of every successful-or-not call to a method, in order."""
        return [
            self.params(c) for c in list(self.calls) if not c.path.startswith("/file/") and self.method_of(c) == method
        ]


def user(uid: int = 111, language: str = "zh-hans", name: str = "张三") -> dict[str, Any]:
    """A Telegram user object."""
    return {"id": uid, "is_bot": False, "first_name": name, "language_code": language}


def text_update(update_id: int, text: str, *, uid: int = 111, language: str = "zh-hans") -> dict[str, Any]:
    """An update with a text message (a /command gets its bot_command entity, as Telegram sends)."""
    msg: dict[str, Any] = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": uid, "type": "private"},
        "from": user(uid, language),
        "text": text,
    }
    if text.startswith("/"):
        msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": msg}


def location_update(update_id: int, lat: float, lon: float, *, uid: int = 111) -> dict[str, Any]:
    """An update with a shared location pin."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": uid, "type": "private"},
            "from": user(uid),
            "location": {"latitude": lat, "longitude": lon},
        },
    }


def photo_update(update_id: int, file_id: str, *, uid: int = 111, caption: str | None = None) -> dict[str, Any]:
    """An update with a photo (two sizes, as Telegram sends)."""
    msg: dict[str, Any] = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": uid, "type": "private"},
        "from": user(uid),
        "photo": [
            {"file_id": file_id + "_small", "file_unique_id": "s", "width": 90, "height": 90},
            {"file_id": file_id, "file_unique_id": "b", "width": 800, "height": 600},
        ],
    }
    if caption:
        msg["caption"] = caption
    return {"update_id": update_id, "message": msg}


def callback_update(update_id: int, data: str, *, uid: int = 111, message_id: int = 5001) -> dict[str, Any]:
    """An update with an inline-keyboard button press."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cbq{update_id}",
            "from": user(uid),
            "chat_instance": "-42",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": uid, "type": "private"},
                "from": BOT_USER,
                "text": "…",
            },
        },
    }


def sticker_update(update_id: int, *, uid: int = 111) -> dict[str, Any]:
    """An update with a sticker (a type the bot does not handle)."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": uid, "type": "private"},
            "from": user(uid),
            "sticker": {
                "file_id": "stk",
                "file_unique_id": "stk",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            },
        },
    }

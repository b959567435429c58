"""Type checks of an incoming Telegram update before PTB reads it.

PTB's `Update.de_json` trusts the JSON's types: a chat id that is a list crashes `process_update`
(unhashable), a date past datetime's range raises OSError, a text that is an object crashes our converter.
The checks go by field name wherever the field appears, so every kind of update (message, edit, button
press, member change …) is covered by one walk.
"""

from __future__ import annotations

import math
from typing import Any

_INTS = frozenset(
    {
        "update_id",
        "message_id",
        "width",
        "height",
        "file_size",
        "offset",
        "length",
        "user_id",
        "message_thread_id",
        "duration",
    }
)
_DATES = frozenset({"date", "edit_date", "forward_date"})
_STRINGS = frozenset(
    {
        "text",
        "caption",
        "data",
        "title",
        "address",
        "first_name",
        "last_name",
        "username",
        "language_code",
        "file_id",
        "file_unique_id",
        "type",
        "phone_number",
        "chat_instance",
        "status",
    }
)
_COORDINATES = frozenset({"latitude", "longitude"})
_BOOLS = frozenset({"is_bot"})
_LISTS = frozenset({"photo", "entities", "caption_entities", "new_chat_members"})
# Objects whose "id" is a number (users and chats); a callback query's "id" is a string.
_NUMERIC_ID = frozenset({"chat", "from", "user", "sender_chat", "new_chat_members"})
_STRING_ID = frozenset({"callback_query", "inline_query"})
MAX_DATE = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second datetime can hold


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_coordinate(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_update(data: Any) -> None:
    """Raise ValueError unless data is an update object whose known fields have the Bot API's types."""
    if not isinstance(data, dict) or not _is_int(data.get("update_id")):
        raise ValueError("not an update object")
    _check(data, "")


def _check(node: Any, parent: str) -> None:
    if isinstance(node, list):
        for item in node:
            _check(item, parent)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if value is not None and not _fits(key, value, parent):
            raise ValueError(f"{parent or 'update'}.{key} has the wrong type")
        _check(value, key)


def _fits(key: str, value: Any, parent: str) -> bool:
    if key == "id" and parent in _NUMERIC_ID:
        return _is_int(value)
    if key == "id" and parent in _STRING_ID:
        return isinstance(value, str)
    if key in _INTS:
        return _is_int(value)
    if key in _DATES:
        return _is_int(value) and 0 <= value <= MAX_DATE
    if key in _STRINGS:
        return isinstance(value, str)
    if key in _COORDINATES:
        return _is_coordinate(value)
    if key in _BOOLS:
        return isinstance(value, bool)
    if key in _LISTS:
        return isinstance(value, list) and all(isinstance(item, dict) for item in value)
    if key in _NUMERIC_ID or key in _STRING_ID or key in ("message", "edited_message", "location", "venue"):
        return isinstance(value, dict)
    return True

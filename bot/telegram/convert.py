"""Telegram ⇄ neutral messages: an Update becomes an Inbound, an Outbound becomes sendMessage calls."""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    MessageEntity,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
    User,
)
from telegram.error import TelegramError

from backend.texts import catalogue, lang_of, t
from bot.messages import Inbound, InboundKind, Outbound, OutboundKind

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
CALLBACK_DATA_BYTES = 64  # Telegram's limit on an inline button's callback_data
SHARE_LOCATION_KEY = "button.share_location"
GROUP_CHATS = frozenset({"group", "supergroup"})


def bot_username(bot: Bot) -> str:
    """The bot's @username without the @ ("" before getMe has told us)."""
    try:
        return bot.username or ""
    except RuntimeError:  # PTB: the Bot was not initialised
        return ""


def addressed(msg: Message, username: str) -> bool:
    """Is a group message meant for the bot: a reply to it, an @mention of it, or a command (to it)?"""
    name = username.lower()

    def is_us(who: User | None) -> bool:
        return who is not None and who.is_bot and bool(name) and (who.username or "").lower() == name

    if msg.reply_to_message is not None and is_us(msg.reply_to_message.from_user):
        return True
    entities = msg.parse_entities() if msg.text is not None else msg.parse_caption_entities()
    for entity, text in entities.items():
        if entity.type == MessageEntity.MENTION and name and text.lower() == "@" + name:
            return True
        if entity.type == MessageEntity.TEXT_MENTION and is_us(entity.user):
            return True
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            target = text.partition("@")[2].lower()
            if not target or target == name:
                return True
    return False


async def to_inbound(update: Update, bot: Bot, *, max_photo_bytes: int) -> Inbound | None:
    """The Inbound for an update; None for updates the bot ignores (group edits, channel posts …)."""
    user = update.effective_user
    if user is None or user.is_bot:
        return None
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "user_id": str(user.id),
        "message_id": str(update.update_id),
        "language": lang_of(user.language_code),
        "display_name": user.first_name or "",
    }
    chat = update.effective_chat
    in_group = chat is not None and chat.type in GROUP_CHATS
    if update.callback_query is not None:
        # The bot sends no buttons into groups: a press there is on someone else's message.
        return None if in_group else Inbound(kind=InboundKind.button, data=update.callback_query.data or "", **base)
    if update.edited_message is not None:
        # Edits in groups are not ours to read: the bot answered (or ignored) the message as first sent.
        return None if in_group else _edit(update.edited_message, base)
    msg = update.message
    if msg is None:
        return None
    base["received_at"] = msg.date.astimezone(UTC) if msg.date else None
    base["ref"] = str(msg.message_id)
    if in_group and chat is not None:
        # A community group: only messages meant for the bot, answered in the group (the chat is the
        # sender), with a pointer to a private chat and never a ticket's details.
        username = bot_username(bot)
        if not addressed(msg, username):
            return None
        group = {**base, "user_id": str(chat.id), "display_name": chat.title or ""}
        return Inbound(kind=InboundKind.group, text=msg.text or msg.caption or "", data=username, **group)
    if msg.text is not None:
        command = msg.text.split()[0].split("@")[0] if msg.text.startswith("/") else ""
        if command == "/start" and any(e.type == "bot_command" for e in msg.entities):
            return Inbound(kind=InboundKind.follow, **base)
        return Inbound(kind=InboundKind.text, text=msg.text, **base)
    if msg.location is not None:
        # A venue (a pin picked from the map's place list) comes with its name and address.
        label = " ".join(p for p in (msg.venue.title, msg.venue.address) if p) if msg.venue else ""
        return Inbound(
            kind=InboundKind.location, lat=msg.location.latitude, lon=msg.location.longitude, label=label, **base
        )
    if msg.photo:
        largest = max(msg.photo, key=lambda p: p.width * p.height)
        data = await download(bot, largest.file_id, max_photo_bytes)
        return Inbound(kind=InboundKind.image, image=data, image_ref=largest.file_id, text=msg.caption or "", **base)
    if msg.document is not None:
        doc = msg.document
        if (doc.mime_type or "").lower().startswith("image/"):  # a photo sent as a file (uncompressed)
            data = await download(bot, doc.file_id, max_photo_bytes)
            return Inbound(kind=InboundKind.image, image=data, image_ref=doc.file_id, text=msg.caption or "", **base)
        return Inbound(kind=InboundKind.file, label=doc.file_name or "", **base)
    if msg.voice is not None or msg.audio is not None:
        return Inbound(kind=InboundKind.voice, **base)  # bots get no transcription: no text to use
    if msg.video is not None or msg.video_note is not None or msg.animation is not None:
        return Inbound(kind=InboundKind.video, **base)
    return Inbound(kind=InboundKind.unknown, **base)


def _edit(msg: Message, base: dict[str, Any]) -> Inbound | None:
    """An edited message: its new text (or caption), or a live location's new position; None for other edits."""
    base = {**base, "received_at": msg.edit_date.astimezone(UTC) if msg.edit_date else None}
    edited = str(msg.message_id)
    if msg.location is not None:
        return Inbound(
            kind=InboundKind.edit, lat=msg.location.latitude, lon=msg.location.longitude, data=edited, **base
        )
    words = msg.text if msg.text is not None else msg.caption
    if words is None:
        return None
    return Inbound(kind=InboundKind.edit, text=words, data=edited, **base)


async def download(bot: Bot, file_id: str, max_bytes: int) -> bytes | None:
    """A file's bytes through getFile, or None if it is too large or cannot be fetched."""
    try:
        file = await bot.get_file(file_id)
        if file.file_size is not None and file.file_size > max_bytes:
            return None
        data = bytes(await file.download_as_bytearray())
    except TelegramError as exc:
        logger.warning("telegram: photo download failed: %s", type(exc).__name__)
        return None
    return data if len(data) <= max_bytes else None


def _inline(message: Outbound) -> InlineKeyboardMarkup | None:
    rows = []
    for button in message.buttons:
        if len(button.data.encode()) > CALLBACK_DATA_BYTES:
            logger.error("telegram: button data over 64 bytes dropped: %s", button.data[:20])
            continue
        rows.append([InlineKeyboardButton(button.label, callback_data=button.data)])
    return InlineKeyboardMarkup(rows) if rows else None


def share_location_label(lang: str) -> str:
    """The label of the share-location keyboard button."""
    return t(SHARE_LOCATION_KEY, lang) if SHARE_LOCATION_KEY in catalogue() else "📍"


async def send_outbound(bot: Bot, chat_id: int | str, message: Outbound, lang: str = "zh") -> None:
    """Send one neutral message: inline keyboards for buttons, a reply keyboard to request a location."""
    text = "\n".join(
        part for part in (f"<b>{_escape(message.title)}</b>" if message.title else "", _escape(message.text)) if part
    )
    if message.kind is OutboundKind.image and message.image_url:
        await bot.send_photo(chat_id, message.image_url, caption=text or None, parse_mode="HTML")
        return
    if message.kind is OutboundKind.location_request:
        label = share_location_label(lang)
        keyboard = ReplyKeyboardMarkup(
            [[KeyboardButton(label, request_location=True)]], resize_keyboard=True, one_time_keyboard=True
        )
        if message.buttons:
            await bot.send_message(chat_id, text, reply_markup=_inline(message), parse_mode="HTML")
            await bot.send_message(chat_id, label, reply_markup=keyboard)
        else:
            await bot.send_message(chat_id, text, reply_markup=keyboard, parse_mode="HTML")
        return
    markup: InlineKeyboardMarkup | ReplyKeyboardRemove | None = _inline(message)
    await bot.send_message(chat_id, text or "…", reply_markup=markup, parse_mode="HTML")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

"""A message as the inbox stores it: every field survives the JSON column."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime

from bot.inbox import inbound_from_json, inbound_to_json
from bot.messages import Inbound, InboundKind


def test_every_field_of_a_message_comes_back_from_its_stored_json() -> None:
    sent = Inbound(
        channel="telegram",
        user_id="4242",
        kind=InboundKind.image,
        text="井盖缺了一块",
        data="act:accept:7",
        lon=121.47,
        lat=31.23,
        label="人民路12号",
        image=b"\x89PNG\r\n\x1a\n\x00\xff",
        image_ref="file-77",
        message_id="9001",
        ref="55",
        language="en",
        display_name="王师傅",
        received_at=datetime(2026, 12, 7, 8, 30, 5, tzinfo=UTC),
        card_press=True,
    )
    defaults = Inbound(channel="wechat", user_id="o1", kind=InboundKind.text)
    assert all(getattr(sent, f.name) != getattr(defaults, f.name) for f in fields(Inbound)), "set every field"

    stored = json.loads(json.dumps(inbound_to_json(sent)))  # what the JSON column gives back

    assert inbound_from_json(stored) == sent


def test_a_message_without_photo_or_time_comes_back_as_sent() -> None:
    sent = Inbound(channel="wechat", user_id="o1", kind=InboundKind.text, text="路灯不亮", message_id="m1")

    assert inbound_from_json(json.loads(json.dumps(inbound_to_json(sent)))) == sent

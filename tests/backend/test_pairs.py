"""pairs_in: (channel, key) lookups written per channel find exactly the pairs asked for, on both backends."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import ChannelIdentity
from backend.db.pairs import pairs_in
from backend.services.people import Newcomer, new_residents


def test_the_same_key_on_another_channel_is_not_a_match(session: Session) -> None:
    new_residents(
        session,
        [Newcomer(channel, key, "", "zh") for channel in ("wechat", "telegram") for key in ("pairs-a", "pairs-b")],
    )
    asked = [("wechat", "pairs-a"), ("telegram", "pairs-b"), ("telegram", "pairs-missing")]
    found = session.execute(
        select(ChannelIdentity.channel, ChannelIdentity.external_id).where(
            pairs_in(ChannelIdentity.channel, ChannelIdentity.external_id, asked)
        )
    ).all()
    assert sorted(found) == [("telegram", "pairs-b"), ("wechat", "pairs-a")]


def test_no_pairs_match_nothing(session: Session) -> None:
    new_residents(session, [Newcomer("wechat", "pairs-c", "", "zh")])
    query = select(ChannelIdentity.id).where(pairs_in(ChannelIdentity.channel, ChannelIdentity.external_id, []))
    assert session.execute(query).all() == []

"""A chat turn's notices for its own speaker: taken into the answer, never written to the outbox."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Notification
from backend.domain.notifications import NoticeKind
from backend.usecases.own_notices import OwnNotices


def _notice(session: Session, key: str, *, external_id: str = "o_me", kind: NoticeKind = NoticeKind.dispatched) -> None:
    session.add(Notification(key=key, channel="wechat", external_id=external_id, kind=kind.value, payload={"k": key}))


def _outbox(session: Session) -> set[str]:
    return set(session.scalars(select(Notification.key)))


def test_own_notice_is_taken_without_ever_being_inserted(session):
    own = OwnNotices(session, channel="wechat", external_id="o_me")
    _notice(session, "mine")
    _notice(session, "someone else's", external_id="o_other")
    session.flush()
    assert _outbox(session) == {"someone else's"}
    assert [row.key for row in own.take()] == ["mine"]
    own.close()
    session.flush()
    assert _outbox(session) == {"someone else's"}


def test_notice_of_a_rolled_back_savepoint_is_not_taken(session):
    own = OwnNotices(session, channel="wechat", external_id="o_me")
    _notice(session, "kept")
    with pytest.raises(ValueError), session.begin_nested():
        _notice(session, "rolled back")
        session.flush()
        raise ValueError
    with session.begin_nested():
        _notice(session, "released")
    assert [row.key for row in own.take()] == ["kept", "released"]
    own.close()


def test_chat_replies_and_other_channels_are_not_the_speakers_notices(session):
    own = OwnNotices(session, channel="wechat", external_id="o_me")
    _notice(session, "reply", kind=NoticeKind.chat_reply)
    session.add(Notification(key="telegram", channel="telegram", external_id="o_me", kind="dispatched", payload={}))
    assert own.take() == []
    own.close()
    session.flush()
    assert _outbox(session) == {"reply", "telegram"}


def test_notices_never_taken_go_to_the_outbox_on_close(session):
    own = OwnNotices(session, channel="wechat", external_id="o_me")
    _notice(session, "untaken")
    session.flush()
    assert _outbox(session) == set()
    own.close()
    session.flush()
    assert _outbox(session) == {"untaken"}

"""The notices a chat turn queues for its own speaker: the turn's answer carries them, so they never reach the outbox.

A service queues such a notice like any other (say "dispatched" for the report just made). It is noted when added
and taken out of the session before any flush would write it, so it is not inserted only to be deleted again when
the turn takes it. A savepoint rolled back drops the notices added in it, as it would drop their rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, SessionTransaction

from backend.db.models import Notification
from backend.domain.notifications import NoticeKind

_KEY = "gridbot.own_notices"


@dataclass
class _Noted:
    row: Notification
    savepoint: SessionTransaction | None  # the innermost savepoint it was added in
    held: bool = False  # taken out of the session (kept here instead)


class OwnNotices:
    """The speaker's notices one turn queues in a session, from creation until `close`."""

    def __init__(self, session: Session, *, channel: str, external_id: str) -> None:
        self._session = session
        self._channel = channel
        self._external_id = external_id
        self._noted: list[_Noted] = []
        session.info[_KEY] = self

    def take(self) -> list[Notification]:
        """The speaker's notices queued so far and not rolled back, out of the session, in the order queued."""
        session, taken = self._session, []
        for noted in self._noted:
            state = inspect(noted.row)
            if state.pending:
                session.expunge(noted.row)
            elif state.persistent:  # written after all (a flush this turn did not see): taken back out
                session.delete(noted.row)
            elif not noted.held:  # rolled back with its savepoint
                continue
            taken.append(noted.row)
        self._noted = []
        return taken

    def close(self) -> None:
        """Stop noting; notices held and never taken go back to the session, to be sent as any other."""
        if self._session.info.get(_KEY) is self:
            del self._session.info[_KEY]
        for noted in self._noted:
            if noted.held:
                self._session.add(noted.row)
        self._noted = []

    def _note(self, row: Notification) -> None:
        if row.channel == self._channel and row.external_id == self._external_id and row.kind != NoticeKind.chat_reply:
            self._noted.append(_Noted(row, self._session.get_nested_transaction()))

    def _hold(self) -> None:
        for noted in self._noted:
            if inspect(noted.row).pending:
                self._session.expunge(noted.row)
                noted.held = True

    def _drop_rolled_back(self, transaction: SessionTransaction) -> None:
        if transaction.nested:
            self._noted = [n for n in self._noted if not _within(n.savepoint, transaction)]
        elif transaction.parent is None:
            self._noted = []
        # else a flush's own subtransaction: the savepoint or transaction around it is rolled back next


def _within(savepoint: SessionTransaction | None, transaction: SessionTransaction) -> bool:
    while savepoint is not None:
        if savepoint is transaction:
            return True
        savepoint = savepoint.parent
    return False


# Listeners on every session, doing nothing unless a turn notes its speaker's notices there (cheaper than adding and
# removing a session's own listeners on each turn of a batch).
@event.listens_for(Session, "transient_to_pending")
def _noted(session: Session, instance: object) -> None:
    own = session.info.get(_KEY)
    if own is not None and isinstance(instance, Notification):
        own._note(instance)


@event.listens_for(Session, "before_flush")
def _held(session: Session, _flush_context: object, _instances: object) -> None:
    own = session.info.get(_KEY)
    if own is not None:
        own._hold()


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    own = session.info.get(_KEY)
    if own is not None:
        own._drop_rolled_back(previous_transaction)

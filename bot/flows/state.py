"""Dialogue state per (channel, user) in the ConversationState table, with idle expiry."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from backend.db.models import ConversationState

# Keys that survive an idle expiry (they are preferences, not a half-finished dialogue).
_STICKY = ("last_ticket", "throttle")


def load_state(
    session: Session, channel: str, external_id: str, now: datetime, *, idle_minutes: int
) -> tuple[dict[str, Any], bool]:
    """The stored state, and whether a dialogue in progress expired (its steps are then dropped)."""
    row = session.get(ConversationState, (channel, external_id))
    if row is None:
        return {}, False
    state = dict(row.state or {})
    if state.get("flow") and row.updated_at + timedelta(minutes=idle_minutes) < now:
        return {k: state[k] for k in _STICKY if k in state}, True
    return state, False


def save_state(session: Session, channel: str, external_id: str, state: dict[str, Any], now: datetime) -> None:
    """Store the state (a new dict so the JSON column sees the change)."""
    row = session.get(ConversationState, (channel, external_id))
    if row is None:
        session.add(ConversationState(channel=channel, external_id=external_id, state=dict(state), updated_at=now))
    else:
        row.state = dict(state)
        row.updated_at = now
        # Set explicitly even when unchanged, or the column's onupdate (the wall clock) would win.
        flag_modified(row, "updated_at")
        flag_modified(row, "state")
    session.flush()

"""Revision 0017 keeps queued urgent notices ahead of staff replies (urgent moved from priority 1 to 2)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from backend.db.migrate import alembic_config, upgrade
from backend.db.session import make_engine
from backend.domain.notifications import ROUTINE, URGENT

BEFORE = "0016_notification_priority"


def priorities(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {key: priority for key, priority in conn.execute(text("SELECT key, priority FROM notifications"))}
    finally:
        engine.dispose()


def test_queued_urgent_notices_stay_urgent_across_the_upgrade_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, BEFORE)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO notifications (key, channel, external_id, kind, payload, status, attempts,"
                " next_attempt_at, created_at, priority) VALUES"
                " ('alarm', 'wecom', 'GW001', 'urgent_alarm', '{}', 'pending', 0, '2026-12-07', '2026-12-07', 1),"
                " ('card', 'wecom', 'GW001', 'task_new', '{}', 'pending', 0, '2026-12-07', '2026-12-07', 0)"
            )
        )
    engine.dispose()

    upgrade(url)
    assert priorities(url) == {"alarm": URGENT, "card": ROUTINE}

    command.downgrade(alembic_config(url), BEFORE)
    assert priorities(url) == {"alarm": 1, "card": 0}

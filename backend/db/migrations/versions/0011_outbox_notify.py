"""outbox notify: every insert into notifications wakes the idle outbox workers (PostgreSQL NOTIFY)

A statement-level trigger, so one signal per INSERT statement, sent when its transaction commits; the workers
LISTEN on the channel (backend/workers/wakeup.py OUTBOX_CHANNEL) and keep their timed poll. Nothing on SQLite.

Revision ID: 0011_outbox_notify
Revises: 0010_rate_slots
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_outbox_notify"
down_revision: str | None = "0010_rate_slots"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION notify_outbox() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_notify('gridbot_outbox', ''); RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER notifications_wake_outbox AFTER INSERT ON notifications "
        "FOR EACH STATEMENT EXECUTE FUNCTION notify_outbox()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER notifications_wake_outbox ON notifications")
    op.execute("DROP FUNCTION notify_outbox()")

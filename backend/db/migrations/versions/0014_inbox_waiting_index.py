"""inbox waiting index: the queue of pending inbox messages alone, in arrival order

A partial index on `id` where `status = 'pending'`: the claim reads its page of the queue from it whatever the
planner's statistics say (with the pending rows among all the finished ones, a plan made from stale statistics
walked the primary key over every finished message, or gathered and sorted every waiting one).

Revision ID: 0014_inbox_waiting_index
Revises: 0013_notification_event
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_inbox_waiting_index"
down_revision: str | None = "0013_notification_event"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "status = 'pending'"


def upgrade() -> None:
    op.create_index(
        "ix_inbox_messages_waiting",
        "inbox_messages",
        ["id"],
        postgresql_where=sa.text(WAITING),
        sqlite_where=sa.text(WAITING),
    )


def downgrade() -> None:
    op.drop_index("ix_inbox_messages_waiting", table_name="inbox_messages")

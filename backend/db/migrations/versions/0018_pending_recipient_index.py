"""an index of each recipient's queued notifications

A claim that books a slot for a member's new task folds every task still queued for them into that one
message (backend/workers/outbox.py), so it looks up the recipient's pending rows; the index is partial
(status = 'pending'), so sent rows, most of the table, cost it nothing.

Revision ID: 0018_pending_recipient_index
Revises: 0017_staff_reply_priority
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_pending_recipient_index"
down_revision: str | None = "0017_staff_reply_priority"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index(
        "ix_notifications_pending_recipient",
        "notifications",
        ["channel", "external_id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_pending_recipient", table_name="notifications")

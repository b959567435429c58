"""notification kind index: urgent notices claimed first

The outbox claims a due urgent notice (URGENT_KINDS) before any other row. Found through (status,
next_attempt_at) alone, that claim would read past every due routine row first: this index goes straight to
the due rows of one kind.

Revision ID: 0016_notification_kind_index
Revises: 0015_ticket_pair_index
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016_notification_kind_index"
down_revision: str | None = "0015_ticket_pair_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_notifications_kind_claim", "notifications", ["kind", "status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_notifications_kind_claim", table_name="notifications")

"""notification priority: urgent notices are claimed before routine ones, retried or not

An urgent alarm was queued due in the year 2000 so that the due-order claim took it first; a retry or a
rate-limit deferral gave it a normal due time and put it behind every routine row queued before it (a
dispatcher's alarm behind 10 s of resident replies). The claim now orders by priority, then due time.

Revision ID: 0016_notification_priority
Revises: 0015_ticket_pair_index
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_notification_priority"
down_revision: str | None = "0015_ticket_pair_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.add_column(sa.Column("priority", sa.SmallInteger(), server_default="0", nullable=False))
        batch_op.drop_index("ix_notifications_claim")
        batch_op.create_index("ix_notifications_claim", ["status", sa.text("priority DESC"), "next_attempt_at"])
    # The kinds of backend.domain.notifications.URGENT_KINDS (a migration keeps its own copy of the rule).
    op.execute("UPDATE notifications SET priority = 1 WHERE kind = 'urgent_alarm'")


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.drop_index("ix_notifications_claim")
        batch_op.create_index("ix_notifications_claim", ["status", "next_attempt_at"])
        batch_op.drop_column("priority")

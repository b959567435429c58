"""staff chat replies before routine notices: urgent notices move from priority 1 to 2

A staff member's chat reply that goes through the outbox now has priority 1 (REPLY), between routine
notices (0) and urgent ones (2, backend.domain.notifications), so rows queued as urgent before this
revision keep their place ahead of it.

Revision ID: 0017_staff_reply_priority
Revises: 0016_notification_priority
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017_staff_reply_priority"
down_revision: str | None = "0016_notification_priority"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE notifications SET priority = 2 WHERE priority = 1")


def downgrade() -> None:
    op.execute("UPDATE notifications SET priority = 0 WHERE priority = 1")
    op.execute("UPDATE notifications SET priority = 1 WHERE priority = 2")

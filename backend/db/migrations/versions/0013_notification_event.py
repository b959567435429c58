"""notification event: the ticket event a notification announces

Its key names the event too (`t{ticket}:e{event}:…`), written when the row is inserted: a change's event and
its notices are inserted by one flush, so the event's id need not be fetched before the notices are made.

Revision ID: 0013_notification_event
Revises: 0012_inbox_passive_reply
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_notification_event"
down_revision: str | None = "0012_inbox_passive_reply"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("event_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_notifications_event_id_ticket_events", "ticket_events", ["event_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_constraint("fk_notifications_event_id_ticket_events", type_="foreignkey")
        batch.drop_column("event_id")

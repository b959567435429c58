"""inbox passive reply: a webhook of another process waits for a turn's passive reply through the inbox row

`reply_until`: set when the storing webhook waits for the turn (until then a processor may answer passively);
cleared when the webhook stops waiting. `passive_reply`: the text the turn chose to give passively ("" once a
processor has taken the row's passive answer, the text when its turn commits).

Revision ID: 0012_inbox_passive_reply
Revises: 0011_outbox_notify
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.db.types import UTCDateTime

revision: str = "0012_inbox_passive_reply"
down_revision: str | None = "0011_outbox_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_messages") as batch:
        batch.add_column(sa.Column("reply_until", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("passive_reply", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox_messages") as batch:
        batch.drop_column("passive_reply")
        batch.drop_column("reply_until")

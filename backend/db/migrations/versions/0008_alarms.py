"""alarms: urgent reports raise an alarm that climbs until acknowledged

Revision ID: 0008_alarms
Revises: 0007_desk
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.db.types

revision: str = "0008_alarms"
down_revision: str | None = "0007_desk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("area_code", sa.String(length=64), nullable=True),
        sa.Column("raised_at", backend.db.types.UTCDateTime(), nullable=False),
        sa.Column("level_since", backend.db.types.UTCDateTime(), nullable=False),
        sa.Column("acked_at", backend.db.types.UTCDateTime(), nullable=True),
        sa.Column("acked_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_alarms_ticket_id_tickets"),
        sa.ForeignKeyConstraint(["area_code"], ["areas.code"], name="fk_alarms_area_code_areas"),
        sa.ForeignKeyConstraint(["acked_by"], ["staff.id"], name="fk_alarms_acked_by_staff"),
        sa.PrimaryKeyConstraint("id", name="pk_alarms"),
    )
    op.create_index("ix_alarms_ticket_id", "alarms", ["ticket_id"], unique=True)
    op.create_index("ix_alarms_acked_at", "alarms", ["acked_at"])


def downgrade() -> None:
    op.drop_index("ix_alarms_acked_at", table_name="alarms")
    op.drop_index("ix_alarms_ticket_id", table_name="alarms")
    op.drop_table("alarms")

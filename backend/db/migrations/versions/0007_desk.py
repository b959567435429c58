"""desk: the triage desk (分拨台) on tickets

Revision ID: 0007_desk
Revises: 0006_inbox
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.db.types

revision: str = "0007_desk"
down_revision: str | None = "0006_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("desk_since", backend.db.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("desk_reason", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("desk_community_code", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("desk_street_code", sa.String(length=64), nullable=True))
        batch.create_foreign_key("fk_tickets_desk_community_code_areas", "areas", ["desk_community_code"], ["code"])
        batch.create_foreign_key("fk_tickets_desk_street_code_areas", "areas", ["desk_street_code"], ["code"])
        batch.create_index("ix_tickets_desk_since", ["desk_since"])


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_desk_since")
        batch.drop_constraint("fk_tickets_desk_street_code_areas", type_="foreignkey")
        batch.drop_constraint("fk_tickets_desk_community_code_areas", type_="foreignkey")
        for column in ("desk_street_code", "desk_community_code", "desk_reason", "desk_since"):
            batch.drop_column(column)

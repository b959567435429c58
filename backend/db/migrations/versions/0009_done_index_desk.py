"""done index covers the desk columns: the statistics' median is an index-only scan for every scope

A dispatcher's scope also matches tickets on its desk (desk_street_code / desk_community_code); without
those columns in the index PostgreSQL read every ticket of the period from the table.

Revision ID: 0009_done_index_desk
Revises: 0008_alarms
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_done_index_desk"
down_revision: str | None = "0008_alarms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DONE = "resolved_at IS NOT NULL AND status IN ('resolved', 'verified', 'closed')"
BEFORE = ["resolved_at", "street_code", "community_code", "grid_code", "department_code", "assignee_id"]
AFTER = [*BEFORE, "desk_street_code", "desk_community_code"]


def _recreate(include: list[str]) -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_done_created_at")
        batch_op.create_index(
            "ix_tickets_done_created_at",
            ["created_at"],
            unique=False,
            postgresql_include=include,
            postgresql_where=sa.text(DONE),
            sqlite_where=sa.text(DONE),
        )


def upgrade() -> None:
    _recreate(AFTER)


def downgrade() -> None:
    _recreate(BEFORE)

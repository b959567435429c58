"""ticket pair index: a grid's tickets of one category, in id order

The duplicate check reads the newest open tickets of each (grid, category) its batch points to. With only
(grid, status) indexed it gathered and sorted every open ticket of the grid: a grid with a burst of reports
made each batch of the burst slower than the last. This index gives each pair's newest rows in order.

Revision ID: 0015_ticket_pair_index
Revises: 0014_inbox_waiting_index
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_ticket_pair_index"
down_revision: str | None = "0014_inbox_waiting_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tickets_grid_category_id", "tickets", ["grid_code", "category_code", "id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_grid_category_id", table_name="tickets")

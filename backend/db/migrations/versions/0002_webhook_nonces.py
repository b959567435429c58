"""webhook nonces: refuse replayed signed webhook requests

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.db.types

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('webhook_nonces',
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('seen_at', backend.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('channel', 'timestamp', 'nonce', name=op.f('pk_webhook_nonces'))
    )
    with op.batch_alter_table('webhook_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_nonces_seen_at'), ['seen_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('webhook_nonces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_nonces_seen_at'))
    op.drop_table('webhook_nonces')

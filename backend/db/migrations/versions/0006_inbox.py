"""inbox: the durable inbox of inbound chat messages (store, acknowledge, then think)

Revision ID: 0006_inbox
Revises: 0005_city
Create Date: 2026-12-04 19:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.db.types

revision: str = '0006_inbox'
down_revision: str | None = '0005_city'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('inbox_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('message_id', sa.String(length=128), nullable=False),
    sa.Column('sender', sa.String(length=128), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_until', backend.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('received_at', backend.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', backend.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_messages')),
    sa.UniqueConstraint('channel', 'message_id', name=op.f('uq_inbox_messages_channel'))
    )
    op.create_index('ix_inbox_messages_claim', 'inbox_messages', ['status', 'id'], unique=False)
    op.create_index('ix_inbox_messages_sender', 'inbox_messages', ['channel', 'sender', 'status', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_inbox_messages_sender', table_name='inbox_messages')
    op.drop_index('ix_inbox_messages_claim', table_name='inbox_messages')
    op.drop_table('inbox_messages')

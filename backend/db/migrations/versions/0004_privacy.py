"""privacy: retention runs, audited access to personal data, anonymised and withdrawn tickets, erased people

Revision ID: 0004_privacy
Revises: 0003
Create Date: 2026-12-04 16:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.db.types

revision: str = '0004_privacy'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', backend.db.types.UTCDateTime(), nullable=True))
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anonymised_at', backend.db.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('contact_withdrawn', sa.Boolean(), server_default='0', nullable=False))
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sa.String(length=128), nullable=True))
    op.create_table(
        'retention_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('started_at', backend.db.types.UTCDateTime(), nullable=False),
        sa.Column('finished_at', backend.db.types.UTCDateTime(), nullable=True),
        sa.Column('cutoffs', sa.JSON(), nullable=False),
        sa.Column('counts', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_runs')),
    )
    op.create_table(
        'privacy_access',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', backend.db.types.UTCDateTime(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('actor_code', sa.String(length=64), nullable=False),
        sa.Column('actor_role', sa.String(length=32), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('subject_id', sa.Integer(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['actor_id'], ['people.id'], name=op.f('fk_privacy_access_actor_id_people')),
        sa.ForeignKeyConstraint(['subject_id'], ['people.id'], name=op.f('fk_privacy_access_subject_id_people')),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_privacy_access_ticket_id_tickets')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_access')),
    )
    with op.batch_alter_table('privacy_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privacy_access_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_privacy_access_ticket_id'), ['ticket_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('privacy_access', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_access_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_privacy_access_at'))
    op.drop_table('privacy_access')
    op.drop_table('retention_runs')
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_column('external_id')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('contact_withdrawn')
        batch_op.drop_column('anonymised_at')
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_column('erased_at')

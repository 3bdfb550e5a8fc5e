"""learned examples: agents' picks as labelled buyer messages (learned_examples, shop_learning)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('learned_examples',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('norm', sa.Text(), nullable=False),
    sa.Column('entry_id', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('agent_id', sa.String(length=64), nullable=True),
    sa.Column('created_ts', sa.Float(), nullable=False),
    sa.Column('decided_ts', sa.Float(), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('vector', sa.Text(), nullable=True),
    sa.Column('encoder_id', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_learned_examples_shop_id'), 'learned_examples', ['shop_id'], unique=False)
    op.create_table('shop_learning',
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('auto_approve', sa.Boolean(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], ),
    sa.PrimaryKeyConstraint('shop_id')
    )


def downgrade() -> None:
    op.drop_table('shop_learning')
    op.drop_index(op.f('ix_learned_examples_shop_id'), table_name='learned_examples')
    op.drop_table('learned_examples')

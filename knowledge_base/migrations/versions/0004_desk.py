"""the desk around the suggestions: routing tables and response targets, desk events, routing and
escalation of each recorded suggestion request

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('desk_events',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=24), nullable=False),
    sa.Column('ts', sa.Float(), nullable=False),
    sa.Column('message_ts', sa.Float(), nullable=True),
    sa.Column('conversation_id', sa.String(length=128), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=True),
    sa.Column('received_ts', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('shop_id', 'event_id', name='uq_desk_events_shop_event')
    )
    op.create_index('ix_desk_events_shop_ts', 'desk_events', ['shop_id', 'ts'], unique=False)
    op.create_table('shop_desk_settings',
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('routing', sa.JSON(), nullable=True),
    sa.Column('first_response_seconds', sa.Integer(), nullable=True),
    sa.Column('reply_deadline_hours', sa.Integer(), nullable=True),
    sa.Column('deadline_warning_hours', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], ),
    sa.PrimaryKeyConstraint('shop_id')
    )
    with op.batch_alter_table('suggestion_events') as batch:
        batch.add_column(sa.Column('conversation_id', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('message_intent', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('escalate_level', sa.String(length=8), nullable=True))
        batch.add_column(sa.Column('escalate_reasons', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('route_group', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('route_reason', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('suggestion_events') as batch:
        for column in ('route_reason', 'route_group', 'escalate_reasons', 'escalate_level', 'message_intent',
                       'conversation_id'):
            batch.drop_column(column)
    op.drop_table('shop_desk_settings')
    op.drop_index('ix_desk_events_shop_ts', table_name='desk_events')
    op.drop_table('desk_events')

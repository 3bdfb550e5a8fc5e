"""kb_versions: base_version (what a version was made from) and source/note as catalogue messages

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('kb_versions') as batch:
        batch.add_column(sa.Column('base_version', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('source_msg', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('note_msg', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('kb_versions') as batch:
        batch.drop_column('note_msg')
        batch.drop_column('source_msg')
        batch.drop_column('base_version')

"""index artifacts in the database: kb_artifacts (one row per built file) and kb_artifact_chunks (its content)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('kb_artifacts',
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('encoder_id', sa.String(length=200), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('chunks', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('shop_id', 'version', 'name')
    )
    op.create_table('kb_artifact_chunks',
    sa.Column('shop_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('shop_id', 'version', 'name', 'seq')
    )
    if op.get_bind().dialect.name == 'postgresql':
        # FAISS vectors do not compress; skip pglz on every TOASTed chunk (as store.ARTIFACT_CHUNK_STORAGE).
        op.execute('ALTER TABLE kb_artifact_chunks ALTER COLUMN data SET STORAGE EXTERNAL')


def downgrade() -> None:
    op.drop_table('kb_artifact_chunks')
    op.drop_table('kb_artifacts')

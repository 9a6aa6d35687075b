"""a gap keeps its question's vector: the gap list groups questions without encoding them again

Revision ID: kb_0002
Revises: kb_0001
Create Date: 2026-12-03 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "kb_0002"
down_revision = "kb_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("kb_gaps", sa.Column("vector", sa.LargeBinary(), nullable=True))
    # the gaps recorded before have no vector: the gap list encodes those (an empty name matches no embedder)
    op.add_column("kb_gaps", sa.Column("embedder", sa.String(length=60), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("kb_gaps", schema=None) as batch_op:
        batch_op.drop_column("embedder")
        batch_op.drop_column("vector")

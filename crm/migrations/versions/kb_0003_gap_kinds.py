"""a gap says what kind of miss it was: unanswered, answered but not helpful, or redirected to another body

Revision ID: kb_0003
Revises: kb_0002
Create Date: 2026-12-04 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "kb_0003"
down_revision = "kb_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("kb_gaps", sa.Column("kind", sa.String(length=20), nullable=False, server_default="unanswered"))
    # the gaps recorded before said so only in their reason (the search's and the feedback's own words)
    op.execute("UPDATE kb_gaps SET kind = 'redirected' WHERE reason LIKE 'out of competence:%'")
    op.execute("UPDATE kb_gaps SET kind = 'not_helpful' WHERE reason = 'negative feedback'")


def downgrade() -> None:
    with op.batch_alter_table("kb_gaps", schema=None) as batch_op:
        batch_op.drop_column("kind")

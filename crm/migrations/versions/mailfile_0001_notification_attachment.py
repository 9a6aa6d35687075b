"""a notification's attached file (the transcript PDF of an e-mail)

Revision ID: mailfile_0001
Revises: 0001_foundation
Create Date: 2026-12-02 04:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "mailfile_0001"
down_revision = "0001_foundation"
branch_labels = ("mailfile",)
depends_on = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("attachment_name", sa.String(length=120), nullable=True))
    op.add_column("notifications", sa.Column("attachment", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("attachment")
        batch_op.drop_column("attachment_name")

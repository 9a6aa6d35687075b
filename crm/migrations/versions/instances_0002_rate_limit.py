"""rate limit hits (database-backed throttle shared by replicas; first user: the istanze status look-up)

Revision ID: instances_0002
Revises: instances_0001
Create Date: 2026-11-24 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "instances_0002"
down_revision = "instances_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_hits",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("expires_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_limit_hits")),
    )
    with op.batch_alter_table("rate_limit_hits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rate_limit_hits_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index("ix_rate_limit_hits_key_expires_at", ["key", "expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rate_limit_hits", schema=None) as batch_op:
        batch_op.drop_index("ix_rate_limit_hits_key_expires_at")
        batch_op.drop_index(batch_op.f("ix_rate_limit_hits_expires_at"))

    op.drop_table("rate_limit_hits")

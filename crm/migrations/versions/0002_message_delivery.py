"""message delivery retries (the hub's outbound retry queue) and per-channel opt-outs on contacts

Revision ID: 0002_message_delivery
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "0002_message_delivery"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opted_out_channels", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_attempt_at", crm.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_messages_next_attempt_at"), ["next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("opted_out_channels")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_next_attempt_at"))
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("delivery_attempts")

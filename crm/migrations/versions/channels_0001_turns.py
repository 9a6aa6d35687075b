"""the hub's durable turn queue (one row per citizen message the assistant answers)

Revision ID: channels_0001
Revises: conversations_0001
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "channels_0001"
down_revision = "0001_foundation"
branch_labels = ("channels",)
depends_on = "conversations_0001"


def upgrade() -> None:
    op.create_table(
        "turns",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("owner", sa.String(length=40), nullable=True),
        sa.Column("lease_until", crm.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=True),
        sa.Column("created_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", crm.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", crm.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_turns_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["ente_id"], ["entes.id"], name=op.f("fk_turns_ente_id_entes"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_turns_message_id_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_turns")),
        sa.UniqueConstraint("message_id", name=op.f("uq_turns_message_id")),
    )
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.create_index("ix_turns_conversation_state", ["conversation_id", "state"], unique=False)
        batch_op.create_index("ix_turns_state_lease", ["state", "lease_until"], unique=False)
        batch_op.create_index(batch_op.f("ix_turns_ente_id"), ["ente_id"], unique=False)


def downgrade() -> None:
    op.drop_table("turns")

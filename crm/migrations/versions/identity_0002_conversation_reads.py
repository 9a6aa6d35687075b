"""per-operator unread counts: how far each operator has read each conversation

Revision ID: identity_0002
Revises: identity_0001
Create Date: 2026-12-01 22:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "identity_0002"
down_revision = "identity_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_reads",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("last_message_id", sa.Integer(), nullable=False),
        sa.Column("read_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_reads_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["entes.id"], name=op.f("fk_conversation_reads_ente_id_entes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_conversation_reads_operator_id_operators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_reads")),
        sa.UniqueConstraint(
            "conversation_id", "operator_id", name=op.f("uq_conversation_reads_conversation_id_operator_id")
        ),
    )
    with op.batch_alter_table("conversation_reads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversation_reads_ente_id"), ["ente_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_conversation_reads_operator_id"), ["operator_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversation_reads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_reads_operator_id"))
        batch_op.drop_index(batch_op.f("ix_conversation_reads_ente_id"))

    op.drop_table("conversation_reads")

"""quick replies (risposte rapide)

Revision ID: canned_0001
Revises: 0001_foundation
Create Date: 2026-12-01 22:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "canned_0001"
down_revision = "0001_foundation"
branch_labels = ("canned",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quick_replies",
        sa.Column("shortcut", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.Column("created_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["entes.id"], name=op.f("fk_quick_replies_ente_id_entes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"], ["topics.id"], name=op.f("fk_quick_replies_topic_id_topics"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quick_replies")),
        sa.UniqueConstraint("ente_id", "shortcut", name=op.f("uq_quick_replies_ente_id_shortcut")),
    )
    with op.batch_alter_table("quick_replies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quick_replies_ente_id"), ["ente_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quick_replies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quick_replies_ente_id"))
    op.drop_table("quick_replies")

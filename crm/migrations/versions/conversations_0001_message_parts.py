"""message parts: every provider id of a reply sent in several parts (long SMS)

Revision ID: conversations_0001
Revises: 0002_message_delivery
Create Date: 2026-12-01 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "conversations_0001"
down_revision = "0002_message_delivery"
branch_labels = ("conversations",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_parts",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_parts_message_id_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_parts")),
        sa.UniqueConstraint("message_id", "part", name=op.f("uq_message_parts_message_id_part")),
    )
    with op.batch_alter_table("message_parts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_parts_provider_id"), ["provider_id"], unique=False)
    # replies of 2-5 parts stored their SIDs joined by commas: one row per part, the first SID kept on the message
    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT id, channel_message_id FROM messages WHERE direction = 'out' AND channel_message_id LIKE '%,%'")
    ).all()
    for mid, joined in rows:
        sids = [x for x in joined.split(",") if x]
        conn.execute(
            sa.text("UPDATE messages SET channel_message_id = :first WHERE id = :id"), {"first": sids[0], "id": mid}
        )
        for i, sid in enumerate(sids):
            conn.execute(
                sa.text("INSERT INTO message_parts (message_id, part, provider_id) VALUES (:m, :p, :s)"),
                {"m": mid, "p": i, "s": sid},
            )


def downgrade() -> None:
    with op.batch_alter_table("message_parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_parts_provider_id"))
    op.drop_table("message_parts")

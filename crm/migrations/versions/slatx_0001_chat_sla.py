"""chat first-response SLA: the ente's and each topic's target, the conversation's escalation

Revision ID: slatx_0001
Revises: conversations_0002
Create Date: 2026-12-01 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "slatx_0001"
down_revision = "conversations_0002"
branch_labels = ("slatx",)
depends_on = None


def upgrade() -> None:
    op.add_column("entes", sa.Column("chat_first_response_minutes", sa.Integer(), server_default="5", nullable=False))
    op.add_column("topics", sa.Column("chat_first_response_minutes", sa.Integer(), nullable=True))
    op.add_column("conversations", sa.Column("sla_escalated_at", crm.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("sla_escalated_at")
    with op.batch_alter_table("topics", schema=None) as batch_op:
        batch_op.drop_column("chat_first_response_minutes")
    with op.batch_alter_table("entes", schema=None) as batch_op:
        batch_op.drop_column("chat_first_response_minutes")

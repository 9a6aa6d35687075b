"""files a request carries (the phone desk's uploads for the caller)

Revision ID: ticketfiles_0001
Revises: 0001_foundation
Create Date: 2026-12-02 04:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "ticketfiles_0001"
down_revision = "0001_foundation"
branch_labels = ("ticketfiles",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticket_files",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("uploaded_by_operator_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["entes.id"], name=op.f("fk_ticket_files_ente_id_entes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_files_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_operator_id"],
            ["operators.id"],
            name=op.f("fk_ticket_files_uploaded_by_operator_id_operators"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_files")),
    )
    with op.batch_alter_table("ticket_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_files_ente_id"), ["ente_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ticket_files_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ticket_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_files_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_ticket_files_ente_id"))
    op.drop_table("ticket_files")

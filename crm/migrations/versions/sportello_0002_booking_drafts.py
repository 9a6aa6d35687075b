"""sportello digitale: bookings in progress kept server-side (the reason never travels in a URL)

Revision ID: sportello_0002
Revises: sportello_0001
Create Date: 2026-12-01 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "sportello_0002"
down_revision = "sportello_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sp_booking_drafts",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("service_slug", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("from_page", sa.Boolean(), nullable=False),
        sa.Column("created_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["entes.id"], name=op.f("fk_sp_booking_drafts_ente_id_entes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sp_booking_drafts")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sp_booking_drafts_token_hash")),
    )
    with op.batch_alter_table("sp_booking_drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sp_booking_drafts_ente_id"), ["ente_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sp_booking_drafts_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sp_booking_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sp_booking_drafts_expires_at"))
        batch_op.drop_index(batch_op.f("ix_sp_booking_drafts_ente_id"))

    op.drop_table("sp_booking_drafts")

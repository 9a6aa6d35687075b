"""booking centre: per-resource calendars, variable duration, series, slot claims

Revision ID: bookings_0002
Revises: bookings_0001
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "bookings_0002"
down_revision = "bookings_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bk_services", sa.Column("max_slots_per_booking", sa.Integer(), server_default="1", nullable=False))
    op.add_column("bk_services", sa.Column("max_series_count", sa.Integer(), server_default="0", nullable=False))
    for table in ("bk_opening_hours", "bk_exceptions"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("resource_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(
                f"fk_{table}_resource_id_bk_resources", "bk_resources", ["resource_id"], ["id"], ondelete="CASCADE"
            )
    op.add_column("bk_bookings", sa.Column("slots", sa.Integer(), server_default="1", nullable=False))
    op.add_column("bk_bookings", sa.Column("series_id", sa.String(length=16), nullable=True))
    op.create_index(op.f("ix_bk_bookings_series_id"), "bk_bookings", ["series_id"], unique=False)
    op.create_table(
        "bk_slot_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("start", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bk_bookings.id"],
            name=op.f("fk_bk_slot_claims_booking_id_bk_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["bk_resources.id"],
            name=op.f("fk_bk_slot_claims_resource_id_bk_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bk_slot_claims")),
        sa.UniqueConstraint("resource_id", "start", name=op.f("uq_bk_slot_claims_resource_id_start")),
    )
    op.create_index(op.f("ix_bk_slot_claims_booking_id"), "bk_slot_claims", ["booking_id"], unique=False)
    # existing confirmed bookings were one slot each: they claim exactly their own slot
    op.execute(
        'INSERT INTO bk_slot_claims (booking_id, resource_id, start, "end") '
        'SELECT id, resource_id, start, "end" FROM bk_bookings '
        "WHERE status = 'confirmed' AND resource_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_bk_slot_claims_booking_id"), table_name="bk_slot_claims")
    op.drop_table("bk_slot_claims")
    op.drop_index(op.f("ix_bk_bookings_series_id"), table_name="bk_bookings")
    with op.batch_alter_table("bk_bookings", schema=None) as batch_op:
        batch_op.drop_column("series_id")
        batch_op.drop_column("slots")
    for table in ("bk_opening_hours", "bk_exceptions"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_resource_id_bk_resources", type_="foreignkey")
            batch_op.drop_column("resource_id")
    with op.batch_alter_table("bk_services", schema=None) as batch_op:
        batch_op.drop_column("max_series_count")
        batch_op.drop_column("max_slots_per_booking")

"""sportello digitale: experience ratings, istanza drafts, place and photos of segnalazioni

Revision ID: sportello_0001
Revises: 0001_foundation
Create Date: 2026-12-01 15:14:47.139088
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "sportello_0001"
down_revision = "0001_foundation"
branch_labels = ("sportello",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sp_ratings",
        sa.Column("page", sa.String(length=200), nullable=False),
        sa.Column("service", sa.String(length=40), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("comment", sa.String(length=200), nullable=False),
        sa.Column("signed_in", sa.Boolean(), nullable=False),
        sa.Column("created_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["entes.id"], name=op.f("fk_sp_ratings_ente_id_entes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sp_ratings")),
    )
    with op.batch_alter_table("sp_ratings", schema=None) as batch_op:
        batch_op.create_index("ix_sp_ratings_ente_at", ["ente_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sp_ratings_ente_id"), ["ente_id"], unique=False)

    op.create_table(
        "sp_drafts",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("type_slug", sa.String(length=80), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.Column("created_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_sp_drafts_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["ente_id"], ["entes.id"], name=op.f("fk_sp_drafts_ente_id_entes"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sp_drafts")),
        sa.UniqueConstraint(
            "ente_id", "contact_id", "type_slug", name=op.f("uq_sp_drafts_ente_id_contact_id_type_slug")
        ),
    )
    with op.batch_alter_table("sp_drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sp_drafts_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sp_drafts_ente_id"), ["ente_id"], unique=False)

    op.create_table(
        "sp_report_files",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("uploaded_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["entes.id"], name=op.f("fk_sp_report_files_ente_id_entes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_sp_report_files_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sp_report_files")),
    )
    with op.batch_alter_table("sp_report_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sp_report_files_ente_id"), ["ente_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sp_report_files_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "sp_report_places",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["entes.id"], name=op.f("fk_sp_report_places_ente_id_entes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_sp_report_places_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sp_report_places")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_sp_report_places_ticket_id")),
    )
    with op.batch_alter_table("sp_report_places", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sp_report_places_ente_id"), ["ente_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sp_report_places", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sp_report_places_ente_id"))

    op.drop_table("sp_report_places")

    with op.batch_alter_table("sp_report_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sp_report_files_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_sp_report_files_ente_id"))

    op.drop_table("sp_report_files")

    with op.batch_alter_table("sp_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sp_drafts_ente_id"))
        batch_op.drop_index(batch_op.f("ix_sp_drafts_contact_id"))

    op.drop_table("sp_drafts")

    with op.batch_alter_table("sp_ratings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sp_ratings_ente_id"))
        batch_op.drop_index("ix_sp_ratings_ente_at")

    op.drop_table("sp_ratings")

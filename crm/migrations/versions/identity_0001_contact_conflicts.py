"""identity captured once: a detail the citizen gave the assistant that differs from the contact's, kept to resolve

Revision ID: identity_0001
Revises: 0001_foundation
Create Date: 2026-12-01 22:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "identity_0001"
down_revision = "0001_foundation"
branch_labels = ("identity",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_conflicts",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=254), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("created_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", crm.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(length=10), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_conflicts_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["entes.id"], name=op.f("fk_contact_conflicts_ente_id_entes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_conflicts")),
        sa.UniqueConstraint("contact_id", "field", "value", name=op.f("uq_contact_conflicts_contact_id_field_value")),
    )
    with op.batch_alter_table("contact_conflicts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_conflicts_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contact_conflicts_ente_id"), ["ente_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contact_conflicts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_conflicts_ente_id"))
        batch_op.drop_index(batch_op.f("ix_contact_conflicts_contact_id"))

    op.drop_table("contact_conflicts")

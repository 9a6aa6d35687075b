"""citizens: a citizen's "no" to merging a contact with their phone or e-mail is remembered

Revision ID: citizens_0002
Revises: citizens_0001
Create Date: 2026-12-01 18:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "citizens_0002"
down_revision = "citizens_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "citizen_merge_refusals",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("decided_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_citizen_merge_refusals_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["entes.id"], name=op.f("fk_citizen_merge_refusals_ente_id_entes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["contacts.id"],
            name=op.f("fk_citizen_merge_refusals_source_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizen_merge_refusals")),
        sa.UniqueConstraint("contact_id", "source_id", name=op.f("uq_citizen_merge_refusals_contact_id_source_id")),
    )
    with op.batch_alter_table("citizen_merge_refusals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_citizen_merge_refusals_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_citizen_merge_refusals_ente_id"), ["ente_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("citizen_merge_refusals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_citizen_merge_refusals_ente_id"))
        batch_op.drop_index(batch_op.f("ix_citizen_merge_refusals_contact_id"))

    op.drop_table("citizen_merge_refusals")

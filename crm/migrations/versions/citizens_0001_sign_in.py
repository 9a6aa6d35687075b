"""citizen sign-in (SPID/CIE over OpenID Connect): sign-ins in progress and server-side sessions

Revision ID: citizens_0001
Revises: 0001_foundation
Create Date: 2026-12-01 15:14:47.139088
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "citizens_0001"
down_revision = "0001_foundation"
branch_labels = ("citizens",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "citizen_logins",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=30), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=100), nullable=False),
        sa.Column("next_path", sa.String(length=300), nullable=False),
        sa.Column("created_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["entes.id"], name=op.f("fk_citizen_logins_ente_id_entes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizen_logins")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_citizen_logins_state_hash")),
    )
    with op.batch_alter_table("citizen_logins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_citizen_logins_ente_id"), ["ente_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_citizen_logins_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "citizen_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=30), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("acr", sa.String(length=100), nullable=False),
        sa.Column("created_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", crm.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", crm.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ente_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_citizen_sessions_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ente_id"], ["entes.id"], name=op.f("fk_citizen_sessions_ente_id_entes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizen_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_citizen_sessions_token_hash")),
    )
    with op.batch_alter_table("citizen_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_citizen_sessions_contact", ["ente_id", "contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_citizen_sessions_ente_id"), ["ente_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_citizen_sessions_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("citizen_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_citizen_sessions_expires_at"))
        batch_op.drop_index(batch_op.f("ix_citizen_sessions_ente_id"))
        batch_op.drop_index("ix_citizen_sessions_contact")

    op.drop_table("citizen_sessions")

    with op.batch_alter_table("citizen_logins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_citizen_logins_expires_at"))
        batch_op.drop_index(batch_op.f("ix_citizen_logins_ente_id"))

    op.drop_table("citizen_logins")

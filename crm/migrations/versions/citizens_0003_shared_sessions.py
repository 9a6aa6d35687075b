"""citizens: a citizen's session is a row of the shared sessions table (auth_sessions, kind citizen); citizen_sessions
keeps only what citizens add (provider, level of assurance, last activity) and names the shared row by its sid

Sessions open before this revision are ended (their cookies named a token the new scheme does not know).

Revision ID: citizens_0003
Revises: citizens_0002
Create Date: 2026-12-01 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm.db

revision = "citizens_0003"
down_revision = "citizens_0002"
branch_labels = None
depends_on = "security_0001"


def upgrade() -> None:
    op.execute("DELETE FROM citizen_sessions")
    with op.batch_alter_table("citizen_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_citizen_sessions_expires_at")
        batch_op.drop_constraint("uq_citizen_sessions_token_hash", type_="unique")
        batch_op.drop_column("token_hash")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("revoked_at")
        batch_op.add_column(sa.Column("sid", sa.String(length=32), nullable=False))
        batch_op.create_unique_constraint(batch_op.f("uq_citizen_sessions_sid"), ["sid"])


def downgrade() -> None:
    op.execute("DELETE FROM citizen_sessions")
    with op.batch_alter_table("citizen_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_citizen_sessions_sid"), type_="unique")
        batch_op.drop_column("sid")
        batch_op.add_column(sa.Column("revoked_at", crm.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("expires_at", crm.db.UTCDateTime(timezone=True), nullable=False))
        batch_op.add_column(sa.Column("token_hash", sa.String(length=64), nullable=False))
        batch_op.create_unique_constraint("uq_citizen_sessions_token_hash", ["token_hash"])
        batch_op.create_index("ix_citizen_sessions_expires_at", ["expires_at"], unique=False)

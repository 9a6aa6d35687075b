"""security: the audit log stays append-only, except that erasure may replace a row's details with {"erased": true}

Revision ID: security_0002
Revises: security_0001
Create Date: 2026-12-01 17:00:00
"""

from __future__ import annotations

from alembic import op

revision = "security_0002"
down_revision = "security_0001"
branch_labels = None
depends_on = None

ERASED = '{"erased": true}'
SAME = ("id", "ente_id", "at", "actor_kind", "actor_id", "actor_name", "action", "entity", "entity_id")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        same = " AND ".join(f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in SAME)
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ BEGIN "
            f"IF TG_OP = 'UPDATE' AND {same} AND NEW.details::text = '{ERASED}' THEN RETURN NEW; END IF; "
            "RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql"
        )
    else:
        same = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in SAME)
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            f"WHEN NOT ({same} AND NEW.details = '{ERASED}') "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql"
        )
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )

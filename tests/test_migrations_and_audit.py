"""Migrations match the models; the audit log is append-only in the database itself."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text


def test_models_and_migrations_agree(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from crm.db import Base, sync_url
    from crm.registry import load_models

    load_models()
    engine = create_engine(sync_url(database_url))
    with engine.connect() as conn:
        # Rasa's tracker store may share the test database at scale (its table is "events"): not ours to check
        def ours(name, type_, parent_names):  # type: ignore[no-untyped-def]
            return not (type_ == "table" and name == "events")

        ctx = MigrationContext.configure(conn, opts={"compare_type": False, "include_name": ours})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_audit_log_refuses_update_and_delete(client, ente_ctx, database_url: str) -> None:  # type: ignore[no-untyped-def]
    from crm.db import sync_url

    client.post("/api/v1/contacts", json={"first_name": "Audit"}, headers=ente_ctx.headers("operator"))
    engine = create_engine(sync_url(database_url))
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM audit_log WHERE ente_id = :e"), {"e": ente_ctx.ente_id}).scalar()
        assert n and n > 0
        conn.rollback()
        for stmt in (
            "UPDATE audit_log SET action = 'x' WHERE ente_id = :e",
            "DELETE FROM audit_log WHERE ente_id = :e",
        ):
            with pytest.raises(Exception, match="append-only"):
                with conn.begin():
                    conn.execute(text(stmt), {"e": ente_ctx.ente_id})
    engine.dispose()


def test_gaps_recorded_before_their_kind_get_it_from_their_reason(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """kb_0003 sorts the gaps already there by the reason the search or the feedback wrote."""
    from crm.migrations import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "kb_0002")
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    reasons = ["confidence 0.12 below 0.50", "out of competence: Passaporto", "negative feedback"]
    with engine.begin() as conn:
        for i, reason in enumerate(reasons):
            conn.execute(
                text(
                    "INSERT INTO kb_gaps (ente_id, query, reason, channel, resolved, at, embedder) "
                    "VALUES (1, :q, :r, '', 0, '2026-12-01 10:00:00', '')"
                ),
                {"q": f"domanda {i}", "r": reason},
            )
    upgrade(url)
    with engine.connect() as conn:
        kinds = conn.execute(text("SELECT reason, kind FROM kb_gaps ORDER BY query")).all()
    engine.dispose()
    assert [k for _, k in kinds] == ["unanswered", "redirected", "not_helpful"]

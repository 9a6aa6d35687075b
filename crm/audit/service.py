"""Reading the audit log; lines are written by ``crm.core.audit.record`` (commands call it through their context)."""

from __future__ import annotations

from sqlalchemy import Select, select

from crm.core.audit import AuditEntry, record

__all__ = ["query", "record"]


def query(*, ente_id: int, entity: str | None = None, entity_id: int | None = None) -> Select[tuple[AuditEntry]]:
    stmt = select(AuditEntry).where(AuditEntry.ente_id == ente_id)
    if entity:
        stmt = stmt.where(AuditEntry.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    return stmt

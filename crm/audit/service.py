"""Reading the audit log; lines are written by ``crm.core.audit.record`` (commands call it through their context)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from crm.core.audit import AuditEntry, record

__all__ = ["query", "record", "to_dict"]


def query(*, ente_id: int, entity: str | None = None, entity_id: int | None = None) -> Select[tuple[AuditEntry]]:
    stmt = select(AuditEntry).where(AuditEntry.ente_id == ente_id)
    if entity:
        stmt = stmt.where(AuditEntry.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    return stmt


def to_dict(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at,
        "actor_kind": e.actor_kind,
        "actor_id": e.actor_id,
        "actor_name": e.actor_name,
        "action": e.action,
        "entity": e.entity,
        "entity_id": e.entity_id,
        "details": e.details,
    }

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.audit.models import AuditEntry
from crm.core.auth import Principal


async def record(
    session: AsyncSession,
    *,
    principal: Principal | None,
    action: str,
    entity: str,
    entity_id: int | None,
    details: dict[str, Any] | None = None,
    ente_id: int | None = None,
) -> None:
    """Append an audit line in the caller's transaction: the change and its trace commit together."""
    session.add(
        AuditEntry(
            ente_id=principal.ente_id if principal else ente_id,
            actor_kind=principal.actor_kind if principal else "system",
            actor_id=principal.operator_id if principal else None,
            actor_name=principal.username if principal else "system",
            action=action,
            entity=entity,
            entity_id=entity_id,
            details=details or {},
        )
    )


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

"""The append-only audit log: who saw or changed citizen data, and when.

The table and its writer live in the core because every command writes it; ``crm/audit/`` serves the log to admins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from crm.core.auth import Principal
from crm.db import Base, EnteMixin, IdMixin, utcnow


class AuditEntry(IdMixin, EnteMixin, Base):
    """One line per read or change of personal data. The database refuses UPDATE and DELETE (triggers)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "ente_id", "entity", "entity_id"),)

    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_kind: Mapped[str] = mapped_column(String(20))  # operator | service | system | citizen
    actor_id: Mapped[int | None] = mapped_column(default=None)
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))  # read | create | update | merge | export | erase | ...
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


async def record(
    session: AsyncSession,
    *,
    principal: Principal | None,
    action: str,
    entity: str,
    entity_id: int | None,
    details: dict[str, Any] | None = None,
    ente_id: int | None = None,
) -> AuditEntry:
    """Append an audit line in the caller's transaction (the change and its trace commit together) for
    ``principal``, or for the system itself on ``ente_id`` when there is none."""
    line = AuditEntry(
        ente_id=principal.ente_id if principal else ente_id,
        actor_kind=principal.actor_kind if principal else "system",
        actor_id=principal.actor_id if principal else None,
        actor_name=principal.username if principal else "system",
        action=action,
        entity=entity,
        entity_id=entity_id,
        details=details or {},
    )
    session.add(line)
    return line

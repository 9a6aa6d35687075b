from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

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

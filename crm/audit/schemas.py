"""What the audit API returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditOut(BaseModel):
    """One audit line: who did what to which record, and when (UTC)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    actor_kind: str = Field(description="operator | service | system | citizen")
    actor_id: int | None
    actor_name: str
    action: str
    entity: str
    entity_id: int | None
    details: dict[str, Any] | None


class AuditQuery(BaseModel):
    """The filters of ``GET /audit`` (documented; the handler reads them leniently)."""

    entity: str | None = Field(default=None, description="e.g. contact, booking, request")
    entity_id: int | None = Field(default=None, ge=0)

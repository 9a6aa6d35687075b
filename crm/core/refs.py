"""References in a request body (``office_id``, ``conversation_id`` ...) checked before they are stored: the record
must exist *and* belong to the caller's ente. A foreign key only proves the first, and only as a database error."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.core.errors import ValidationFailed


async def ensure_owned(session: AsyncSession, *, ente_id: int, field: str, model: Any, value: int | None) -> None:
    """422 naming ``field`` unless ``value`` is None or the id of a ``model`` row of ``ente_id``."""
    if value is None:
        return
    found = await session.scalar(select(model.id).where(model.id == value, model.ente_id == ente_id))
    if found is None:
        raise ValidationFailed(f"unknown {field.removesuffix('_id')}", fields={field: "unknown"})

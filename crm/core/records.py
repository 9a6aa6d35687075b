"""Fetching one record of the caller's ente by id: every service's ``get`` in one place. A record of another ente is
"not found", never "forbidden", so ids leak nothing across enti."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.core.errors import NotFound

T = TypeVar("T")


async def get_in_ente(
    session: AsyncSession,
    model: type[T],
    *,
    ente_id: int,
    record_id: int,
    what: str,
    lock: bool = False,
    fields: dict[str, str] | None = None,
) -> T:
    """The ``model`` row with this id in this ente (``SELECT ... FOR UPDATE`` with ``lock``), or NotFound("<what> not
    found", fields=...)."""
    m: Any = model
    stmt = select(model).where(m.ente_id == ente_id, m.id == record_id)
    if lock:
        stmt = stmt.with_for_update()
    row = await session.scalar(stmt)
    if row is None:
        raise NotFound(f"{what} not found", fields=fields)
    return row

"""GDPR: a citizen's data export (everything that points at the contact). Erasure is ``crm.contacts.commands.erase``
(every store walked by ``crm.contacts.erasure``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.contacts import service as contacts
from crm.conversations.models import Message
from crm.db import Base, utcnow
from crm.registry import load_models

ERASED = "[dato cancellato su richiesta dell'interessato]"


def _plain(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    return v


async def export(session: AsyncSession, *, ente_id: int, contact_id: int) -> dict[str, Any]:
    """Every row of every table that references the contact, plus the messages of their conversations."""
    load_models()
    c = await contacts.get(session, ente_id=ente_id, contact_id=contact_id)
    out: dict[str, Any] = {"contact": contacts.to_out(c).model_dump(mode="json"), "exported_at": utcnow().isoformat()}
    for table in Base.metadata.sorted_tables:
        cols = [
            col
            for col in table.columns
            if any(fk.column.table.name == "contacts" and fk.column.name == "id" for fk in col.foreign_keys)
        ]
        if not cols or table.name in ("contacts", "contact_phones", "contact_emails", "contact_identities"):
            continue
        rows = []
        for col in cols:
            result = await session.execute(select(table).where(col == c.id))
            rows += [{k: _plain(v) for k, v in r._mapping.items()} for r in result]
        if rows:
            out[table.name] = rows
    conv_ids = [r["id"] for r in out.get("conversations", [])]
    if conv_ids:
        msgs = (
            await session.scalars(
                select(Message)
                .where(Message.conversation_id.in_(conv_ids), Message.private.is_(False))
                .order_by(Message.id)
            )
        ).all()
        out["messages"] = [
            {
                "conversation_id": m.conversation_id,
                "direction": m.direction,
                "author": m.author_kind,
                "text": m.text,
                "at": m.created_at.isoformat(),
            }
            for m in msgs
        ]
    return out

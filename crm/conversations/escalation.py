"""The scheduler's round of the chat SLA: handed-off chats whose first-response time ran out unanswered are
escalated (``commands.escalate``), once each. Read first, write only for the late ones: a queue left waiting
overnight costs a read per round, not a write transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.conversations import commands, sla
from crm.conversations.models import Conversation
from crm.core.auth import Principal
from crm.core.commands import acting
from crm.db import reading, utcnow

BATCH = 500


async def late_ids(session: AsyncSession, *, ente_id: int | None, now: datetime) -> dict[int, list[int]]:
    """Per ente, the handed-off, unanswered, not yet escalated chats whose target has run out at ``now``."""
    stmt = (
        select(Conversation)
        .where(
            Conversation.mode.in_(("waiting", "assigned")),
            Conversation.handoff_at.is_not(None),
            # working time runs no faster than the wall clock: nothing younger than the shortest target is late
            Conversation.handoff_at <= now - timedelta(minutes=sla.MIN_TARGET_MINUTES),
            Conversation.first_response_at.is_(None),
            Conversation.sla_escalated_at.is_(None),
        )
        .order_by(Conversation.handoff_at)
        .limit(BATCH)
    )
    if ente_id is not None:
        stmt = stmt.where(Conversation.ente_id == ente_id)
    out: dict[int, list[int]] = {}
    known: dict[int, sla.Targets] = {}
    for conv in (await session.scalars(stmt)).all():
        if conv.ente_id not in known:
            known[conv.ente_id] = await sla.targets(session, conv.ente_id)
        clk = sla.clock(conv, known[conv.ente_id], now)
        if clk is not None and clk.state == "late":
            out.setdefault(conv.ente_id, []).append(conv.id)
    return out


async def escalate_due(
    app: Any,
    *,
    ente_id: int | None = None,
    now: datetime | None = None,
    maker: async_sessionmaker[AsyncSession] | None = None,
) -> list[int]:
    """Escalate what ran out; returns the conversations escalated (safe in several replicas: the command locks the
    row and escalates it once)."""
    maker = maker or app.ctx.sessionmaker
    now = now or utcnow()
    async with reading(maker) as s:
        due = await late_ids(s, ente_id=ente_id, now=now)
    done: list[int] = []
    for eid, ids in due.items():
        async with acting(app, Principal.system(eid, "sla"), maker=maker, details={"job": "chat-sla"}) as cx:
            for cid in ids:
                if await commands.escalate(cx, conversation_id=cid, now=now):
                    done.append(cid)
    return done

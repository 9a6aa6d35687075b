"""Quick replies: the ente's list (for one topic: its own and those for every topic), create, update, delete."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.core.errors import Conflict
from crm.core.records import get_in_ente
from crm.offices import service as offices
from crm.replies.models import QuickReply
from crm.replies.schemas import QuickReplyIn, QuickReplyPatch


async def list_(
    session: AsyncSession, *, ente_id: int, topic_id: int | None = None, q: str | None = None
) -> Sequence[QuickReply]:
    """Ordered by shortcut. ``topic_id``: the replies of that topic and those for every topic (without it: all of
    them); ``q``: a shortcut starting with it, or a title containing it."""
    stmt = select(QuickReply).where(QuickReply.ente_id == ente_id)
    if topic_id is not None:
        stmt = stmt.where(or_(QuickReply.topic_id.is_(None), QuickReply.topic_id == topic_id))
    words = (q or "").strip().lstrip("/").lower()
    if words:
        like = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(
            or_(QuickReply.shortcut.like(f"{like}%", escape="\\"), QuickReply.title.ilike(f"%{like}%", escape="\\"))
        )
    return (await session.scalars(stmt.order_by(QuickReply.shortcut))).all()


async def get(session: AsyncSession, *, ente_id: int, reply_id: int) -> QuickReply:
    return await get_in_ente(session, QuickReply, ente_id=ente_id, record_id=reply_id, what="quick reply")


async def _check(session: AsyncSession, *, ente_id: int, shortcut: str, topic_id: int | None, own: int = 0) -> None:
    taken = await session.scalar(
        select(QuickReply.id).where(
            QuickReply.ente_id == ente_id, QuickReply.shortcut == shortcut, QuickReply.id != own
        )
    )
    if taken:
        raise Conflict(f"shortcut {shortcut!r} already used", fields={"shortcut": "already used"})
    if topic_id is not None:
        await offices.get_topic(session, ente_id=ente_id, topic_id=topic_id)


async def create(session: AsyncSession, *, ente_id: int, data: QuickReplyIn) -> QuickReply:
    await _check(session, ente_id=ente_id, shortcut=data.shortcut, topic_id=data.topic_id)
    row = QuickReply(ente_id=ente_id, **data.model_dump())
    session.add(row)
    await session.flush()
    return row


async def update(session: AsyncSession, *, ente_id: int, reply_id: int, data: QuickReplyPatch) -> QuickReply:
    row = await get(session, ente_id=ente_id, reply_id=reply_id)
    changes = data.model_dump(exclude_unset=True)
    for key in ("shortcut", "title", "text"):
        if key in changes and changes[key] is None:
            del changes[key]  # null for a required field: left as it is
    await _check(
        session,
        ente_id=ente_id,
        shortcut=changes.get("shortcut", row.shortcut),
        topic_id=changes.get("topic_id", row.topic_id),
        own=row.id,
    )
    for key, value in changes.items():
        setattr(row, key, value)
    await session.flush()
    return row


async def delete(session: AsyncSession, *, ente_id: int, reply_id: int) -> QuickReply:
    row = await get(session, ente_id=ente_id, reply_id=reply_id)
    await session.delete(row)
    await session.flush()
    return row


async def for_topic(session: AsyncSession, *, ente_id: int, topic_id: int | None) -> Sequence[QuickReply]:
    """What the composer offers in a conversation: the replies for every topic, and those of its topic."""
    cond = QuickReply.topic_id.is_(None)
    if topic_id is not None:
        cond = or_(cond, QuickReply.topic_id == topic_id)
    stmt = select(QuickReply).where(QuickReply.ente_id == ente_id, cond).order_by(QuickReply.shortcut)
    return (await session.scalars(stmt)).all()

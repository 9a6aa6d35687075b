"""Per-operator unread counts: how far each operator has read each conversation (``ConversationRead``), and the
citizen's messages after that point. Opening a conversation reads it up to its last message; a conversation an
operator never opened counts every message the citizen wrote in it."""

from __future__ import annotations

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.conversations.models import ConversationRead, Message
from crm.db import utcnow


async def mark_read(session: AsyncSession, *, ente_id: int, conversation_id: int, operator_id: int) -> bool:
    """The operator has seen the conversation up to its last message. False when nothing was new to them."""
    last = await session.scalar(
        select(func.max(Message.id)).where(Message.ente_id == ente_id, Message.conversation_id == conversation_id)
    )
    if not last:
        return False
    row = await session.scalar(
        select(ConversationRead).where(
            ConversationRead.conversation_id == conversation_id, ConversationRead.operator_id == operator_id
        )
    )
    if row is not None:
        if row.last_message_id >= last:
            return False
        row.last_message_id, row.read_at = last, utcnow()
        await session.flush()
        return True
    try:
        async with session.begin_nested():
            session.add(
                ConversationRead(
                    ente_id=ente_id, conversation_id=conversation_id, operator_id=operator_id, last_message_id=last
                )
            )
            await session.flush()
    except IntegrityError:  # the same operator's other tab marked it at the same moment
        return False
    return True


async def unread(
    session: AsyncSession, *, ente_id: int, operator_id: int | None, conversation_ids: list[int]
) -> dict[int, int]:
    """Per conversation, the citizen's messages this operator has not seen (conversations with none left out)."""
    if not conversation_ids:
        return {}
    mine = and_(
        ConversationRead.conversation_id == Message.conversation_id,
        ConversationRead.operator_id == (operator_id or 0),
    )
    rows = await session.execute(
        select(Message.conversation_id, func.count())
        .outerjoin(ConversationRead, mine)
        .where(
            Message.ente_id == ente_id,
            Message.conversation_id.in_(conversation_ids),
            Message.direction == "in",
            Message.id > func.coalesce(ConversationRead.last_message_id, 0),
        )
        .group_by(Message.conversation_id)
    )
    return {int(cid): int(n) for cid, n in rows.all()}

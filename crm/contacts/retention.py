"""Retention: conversations are not kept for ever. A scheduler job anonymises, after configurable periods,

- closed conversations (``URP_RETENTION_CLOSED_DAYS`` after closing, default 730),
- bot-only sessions, never handed off to a person (``URP_RETENTION_BOT_ONLY_DAYS`` after the last message,
  default 90),

and deletes their events from Rasa's tracker store. Anonymised = the messages' texts, attachments (their files
too) and provider payloads and the hand-off summary go; the rows (dates, channel, states) stay for statistics. 0
disables a rule.
Idempotent and bounded per run, so several replicas may run it at once.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from crm.contacts.erasure import ERASED, purge_tracker, remove_files
from crm.conversations import files as chat_files
from crm.conversations.models import Conversation, ConversationRating, Message
from crm.db import reading, transaction, utcnow

log = logging.getLogger("urp.retention")
BATCH = 200
EVERY_SECONDS = 3600.0


async def due(
    session: Any, *, closed_days: int, bot_only_days: int, ente_id: int | None = None, limit: int = BATCH
) -> list[int]:
    """Conversations past their retention period and not yet anonymised."""
    now = utcnow()
    rules = []
    if closed_days > 0:
        rules.append(and_(Conversation.mode == "closed", Conversation.closed_at < now - timedelta(days=closed_days)))
    if bot_only_days > 0:
        rules.append(
            and_(Conversation.handoff_at.is_(None), Conversation.last_message_at < now - timedelta(days=bot_only_days))
        )
    if not rules:
        return []
    stmt = select(Conversation.id).where(Conversation.anonymised_at.is_(None), or_(*rules))
    if ente_id is not None:
        stmt = stmt.where(Conversation.ente_id == ente_id)
    return list((await session.scalars(stmt.order_by(Conversation.id).limit(limit))).all())


async def file_keys(session: Any, conv_ids: list[int]) -> list[str]:
    """The store keys of the files sent in these conversations (deleted after the commit that anonymises them)."""
    if not conv_ids:
        return []
    rows = (await session.scalars(select(Message.attachments).where(Message.conversation_id.in_(conv_ids)))).all()
    return chat_files.keys_of(rows)


async def anonymise(session: Any, conv_ids: list[int]) -> int:
    if not conv_ids:
        return 0
    await session.execute(
        update(Message).where(Message.conversation_id.in_(conv_ids)).values(text=ERASED, attachments=[], payload={})
    )
    await session.execute(
        update(ConversationRating).where(ConversationRating.conversation_id.in_(conv_ids)).values(comment="")
    )
    result = await session.execute(
        update(Conversation)
        .where(Conversation.id.in_(conv_ids))
        .values(handoff_summary="", handoff_context={}, anonymised_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def run(app: Any, *, ente_id: int | None = None) -> dict[str, int]:
    """One pass: anonymise what is due (in batches), then purge those conversations from Rasa's tracker."""
    from channels.turn_token import sender_of
    from crm.contacts.commands import tracker_url

    settings = app.ctx.settings
    total = {"conversations": 0, "tracker_events": 0}
    while True:
        async with reading(app.ctx.sessionmaker) as s:  # nothing due (most passes): no write lock taken
            if not await due(
                s,
                closed_days=settings.retention_closed_days,
                bot_only_days=settings.retention_bot_only_days,
                ente_id=ente_id,
                limit=1,
            ):
                break
        async with transaction(app.ctx.sessionmaker) as s:
            ids = await due(
                s,
                closed_days=settings.retention_closed_days,
                bot_only_days=settings.retention_bot_only_days,
                ente_id=ente_id,
            )
            keys = await file_keys(s, ids)
            done = await anonymise(s, ids)
        if not ids:
            break
        remove_files([chat_files.store_for(settings).root / k for k in keys])
        total["conversations"] += done
        total["tracker_events"] += await purge_tracker(tracker_url(settings), [sender_of(i) for i in ids])
        if len(ids) < BATCH:
            break
    if total["conversations"]:
        log.info(
            "retention: %d conversations anonymised, %d tracker events deleted",
            total["conversations"],
            total["tracker_events"],
        )
    return total


async def job(app: Any) -> None:
    """Scheduler job: at most once an hour per process."""
    from crm.scheduler import served

    last = getattr(app.ctx, "retention_last_run", 0.0)
    if time.monotonic() - last < EVERY_SECONDS and last:
        return
    app.ctx.retention_last_run = time.monotonic()
    for ente_id in served(app):
        await run(app, ente_id=ente_id)

"""Retention: conversations are not kept for ever. A scheduler job anonymises, after configurable periods,

- closed conversations (``URP_RETENTION_CLOSED_DAYS`` after closing, default 730),
- bot-only sessions, never handed off to a person (``URP_RETENTION_BOT_ONLY_DAYS`` after the last message,
  default 90),

and deletes their events from Rasa's tracker store. Anonymised = the messages' texts, attachments (their files
too) and provider payloads and the hand-off summary go; the rows (dates, channel, states) stay for statistics. 0
disables a rule.

The files a request carries (the phone desk's and the operators' uploads, ``ticket_files``; a segnalazione's photos,
``sp_report_files``) follow the closed conversations' rule: ``URP_RETENTION_CLOSED_DAYS`` after the request was
closed (resolved, closed or rejected: its last closing date, else its last change) the files are deleted and their
rows keep type, size and date only (name ``allegato-cancellato``/``foto-cancellata``, no storage key). A request
still open keeps its files whatever its age.
Idempotent and bounded per run, so several replicas may run it at once.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, and_, func, or_, select, update

from crm.contacts.erasure import ERASED, purge_tracker, remove_files
from crm.conversations import files as chat_files
from crm.conversations.models import Conversation, ConversationRating, Message
from crm.db import Base, reading, transaction, utcnow
from crm.registry import load_models

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


# a request's file stores and what a purged row is called
REQUEST_FILES = (("ticket_files", "allegato-cancellato"), ("sp_report_files", "foto-cancellata"))


def _request_file_tables() -> list[tuple[Table, str]]:
    load_models()
    return [(Base.metadata.tables[n], label) for n, label in REQUEST_FILES if n in Base.metadata.tables]


async def due_request_files(
    session: Any, *, closed_days: int, ente_id: int | None = None, limit: int = BATCH
) -> list[tuple[Table, int, str]]:
    """Files of requests closed more than ``closed_days`` ago, still stored: ``(table, row id, storage key)``."""
    if closed_days <= 0:
        return []
    from crm.tickets.models import OPEN_STATUSES, Ticket

    closed = func.coalesce(Ticket.closed_at, Ticket.resolved_at, Ticket.updated_at)
    out: list[tuple[Table, int, str]] = []
    for table, _ in _request_file_tables():
        stmt = (
            select(table.c.id, table.c.storage_key)
            .join(Ticket, Ticket.id == table.c.ticket_id)
            .where(
                table.c.storage_key != "",
                Ticket.status.notin_(OPEN_STATUSES),
                closed < utcnow() - timedelta(days=closed_days),
            )
        )
        if ente_id is not None:
            stmt = stmt.where(Ticket.ente_id == ente_id)
        out += [(table, i, k) for i, k in (await session.execute(stmt.order_by(table.c.id).limit(limit))).all()]
    return out


async def purge_request_files(session: Any, due_files: list[tuple[Table, int, str]]) -> int:
    """The rows keep type, size and date; their name and storage key go (the files are deleted after the commit)."""
    labels = dict((t.name, label) for t, label in _request_file_tables())
    events = Base.metadata.tables["ticket_events"]
    n = 0
    for table, file_id, _ in due_files:
        result = await session.execute(
            update(table)
            .where(table.c.id == file_id)
            .values(filename=labels[table.name], storage_key="")
            .returning(table.c.ticket_id)
        )
        ticket_ids = list(result.scalars().all())
        n += len(ticket_ids)
        if table.name == "ticket_files" and ticket_ids:  # its history line named the file
            await session.execute(
                update(events)
                .where(
                    events.c.ticket_id == ticket_ids[0],
                    events.c.action == "upload",
                    events.c.to_value == str(file_id),
                )
                .values(note=labels[table.name])
            )
    return n


async def run_request_files(app: Any, *, ente_id: int | None = None) -> int:
    """Delete the files of requests past their retention period (read-only when nothing is due)."""
    settings = app.ctx.settings
    total = 0
    while True:
        async with reading(app.ctx.sessionmaker) as s:
            if not await due_request_files(s, closed_days=settings.retention_closed_days, ente_id=ente_id, limit=1):
                break
        async with transaction(app.ctx.sessionmaker) as s:
            found = await due_request_files(s, closed_days=settings.retention_closed_days, ente_id=ente_id)
            done = await purge_request_files(s, found)
        remove_files([chat_files.store_for(settings).root / k for _, _, k in found])
        total += done
        if len(found) < BATCH:
            break
    return total


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
    total["request_files"] = await run_request_files(app, ente_id=ente_id)
    if total["conversations"] or total["request_files"]:
        log.info(
            "retention: %d conversations anonymised, %d tracker events deleted, %d request files deleted",
            total["conversations"],
            total["tracker_events"],
            total["request_files"],
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

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
rows keep type, size and date only (name ``allegato-cancellato``/``foto-cancellata``, no storage key). By the same
rule the request itself is anonymised: its subject becomes ``RETAINED``, its description and its history's notes
go, a segnalazione's address and map position go; its code, kind, channel, dates and status stay for statistics.
One audit line per ente and pass counts what went (requests, files), never their content. A request still open
keeps everything whatever its age, and a concluded one past its retention takes no new files
(``tickets.service.add_uploads``); its page says so instead of offering the form.
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
from crm.core import audit
from crm.db import Base, checkpoint_sqlite, reading, transaction, utcnow
from crm.registry import load_models

log = logging.getLogger("urp.retention")
# a request's subject once retention anonymised it (the erasure's own marker is ERASED)
RETAINED = "[dato cancellato alla scadenza dei tempi di conservazione]"
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
) -> list[tuple[Table, int, str, int]]:
    """Files of requests closed more than ``closed_days`` ago, still stored: ``(table, row id, storage key, ente)``."""
    if closed_days <= 0:
        return []
    from crm.tickets.models import OPEN_STATUSES, Ticket

    closed = func.coalesce(Ticket.closed_at, Ticket.resolved_at, Ticket.updated_at)
    out: list[tuple[Table, int, str, int]] = []
    for table, _ in _request_file_tables():
        stmt = (
            select(table.c.id, table.c.storage_key, Ticket.ente_id)
            .join(Ticket, Ticket.id == table.c.ticket_id)
            .where(
                table.c.storage_key != "",
                Ticket.status.notin_(OPEN_STATUSES),
                closed < utcnow() - timedelta(days=closed_days),
            )
        )
        if ente_id is not None:
            stmt = stmt.where(Ticket.ente_id == ente_id)
        out += [(table, i, k, e) for i, k, e in (await session.execute(stmt.order_by(table.c.id).limit(limit))).all()]
    return out


async def purge_request_files(session: Any, due_files: list[tuple[Table, int, str, int]]) -> int:
    """The rows keep type, size and date; their name and storage key go (the files are deleted after the commit)."""
    labels = dict((t.name, label) for t, label in _request_file_tables())
    events = Base.metadata.tables["ticket_events"]
    n = 0
    for table, file_id, _, _ in due_files:
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


async def due_requests(
    session: Any, *, closed_days: int, ente_id: int | None = None, limit: int = BATCH
) -> list[tuple[int, int]]:
    """Requests concluded more than ``closed_days`` ago, not yet anonymised: ``(ticket id, ente)``."""
    if closed_days <= 0:
        return []
    from crm.tickets.models import OPEN_STATUSES, Ticket

    closed = func.coalesce(Ticket.closed_at, Ticket.resolved_at, Ticket.updated_at)
    stmt = select(Ticket.id, Ticket.ente_id).where(
        Ticket.subject.notin_([RETAINED, ERASED[:200]]),
        Ticket.status.notin_(OPEN_STATUSES),
        closed < utcnow() - timedelta(days=closed_days),
    )
    if ente_id is not None:
        stmt = stmt.where(Ticket.ente_id == ente_id)
    return [(i, e) for i, e in (await session.execute(stmt.order_by(Ticket.id).limit(limit))).all()]


async def anonymise_requests(session: Any, ticket_ids: list[int]) -> int:
    """Subject, description, history notes and a segnalazione's place go; code, kind, channel, dates and status
    stay."""
    if not ticket_ids:
        return 0
    load_models()
    tk = Base.metadata.tables["tickets"]
    result = await session.execute(
        update(tk)
        .where(tk.c.id.in_(ticket_ids))
        # updated_at set to itself: the row's dates are statistics, not the time of the anonymisation
        .values(subject=RETAINED, description="", updated_at=tk.c.updated_at)
    )
    # its history's notes (operators' notes, reasons, file names): the lines stay, their text goes; an upload's
    # line already carries the neutral name its purged file got (``purge_request_files``, same transaction)
    te = Base.metadata.tables["ticket_events"]
    await session.execute(
        update(te).where(te.c.ticket_id.in_(ticket_ids), te.c.action != "upload", te.c.note != "").values(note="")
    )
    if "sp_report_places" in Base.metadata.tables:
        rp = Base.metadata.tables["sp_report_places"]
        await session.execute(
            update(rp).where(rp.c.ticket_id.in_(ticket_ids)).values(address="", latitude=None, longitude=None)
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def run_request_files(app: Any, *, ente_id: int | None = None) -> dict[str, int]:
    """Anonymise the requests past their retention period and delete their files (read-only when nothing is
    due). Returns the counts ``{"requests": ..., "request_files": ...}``."""
    settings = app.ctx.settings
    days = settings.retention_closed_days
    total = {"requests": 0, "request_files": 0}
    while True:
        async with reading(app.ctx.sessionmaker) as s:  # nothing due (most passes): no write lock taken
            if not await due_requests(s, closed_days=days, ente_id=ente_id, limit=1) and not await due_request_files(
                s, closed_days=days, ente_id=ente_id, limit=1
            ):
                break
        async with transaction(app.ctx.sessionmaker) as s:
            found = await due_request_files(s, closed_days=days, ente_id=ente_id)
            requests = await due_requests(s, closed_days=days, ente_id=ente_id)
            files_done = await purge_request_files(s, found)
            requests_done = await anonymise_requests(s, [i for i, _ in requests])
            counts: dict[int, dict[str, int]] = {}
            for _, e in requests:
                counts.setdefault(e, {"requests": 0, "files": 0})["requests"] += 1
            for _, _, _, e in found:
                counts.setdefault(e, {"requests": 0, "files": 0})["files"] += 1
            for e, c in sorted(counts.items()):  # what went, counted: never a subject, an address or a name
                await audit.record(
                    s,
                    principal=None,
                    ente_id=e,
                    action="retention",
                    entity="request",
                    entity_id=None,
                    details={**c, "closed_days": days},
                )
        remove_files([chat_files.store_for(settings).root / k for _, _, k, _ in found])
        total["request_files"] += files_done
        total["requests"] += requests_done
        if len(found) < BATCH and len(requests) < BATCH:
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
            engine = s.bind
        if not ids:
            break
        await checkpoint_sqlite(engine)  # the anonymised rows' old images out of the WAL (crm.db.zero_what_is_deleted)
        remove_files([chat_files.store_for(settings).root / k for k in keys])
        total["conversations"] += done
        total["tracker_events"] += await purge_tracker(tracker_url(settings), [sender_of(i) for i in ids])
        if len(ids) < BATCH:
            break
    total.update(await run_request_files(app, ente_id=ente_id))
    if total["conversations"] or total["request_files"] or total["requests"]:
        log.info(
            "retention: %d conversations anonymised, %d tracker events deleted, %d requests anonymised, "
            "%d request files deleted",
            total["conversations"],
            total["tracker_events"],
            total["requests"],
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

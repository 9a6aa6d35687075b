"""Citizens' files from Telegram and MMS, fetched off the webhook, with retries.

The webhook stores the message at once with each file described as *pending* (``{"name", "pending": true,
"source": {"telegram": file_id} | {"url": media_url}}`` in ``Message.attachments``) and answers the provider; the
message's ``next_attempt_at`` (unused otherwise on an inbound message) is then the time of the next download
attempt and its ``delivery_attempts`` the attempts made. The first attempt runs right after the webhook (a
background task, which goes on with the next ones after a growing backoff; the scheduler's ``chat-files`` job takes
up those a restart cut short), so a provider's file server that fails once does not lose the file. A file fetched
is checked and stored like any other (``crm.conversations.files.keep``: its key derives from the channel's message
id, a repeated attempt writes the same file); one refused (type, size), one the provider says is gone, or one still
missing after ``MAX_ATTEMPTS``, becomes a refusal the citizen is told about in Italian. Two workers never fetch the
same message at once: an attempt leases the message (``LEASE``) before it downloads."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from channels.base import Inbound, SendFailed
from crm.conversations import files as chat_files
from crm.conversations import service as conversations
from crm.conversations.models import Message
from crm.db import transaction, utcnow
from crm.events import emit

log = logging.getLogger("urp.channels.media")

FETCH_TIMEOUT = 20.0  # s: one download from Telegram or Twilio
MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=2)  # an attempt cut by a crash is taken up again after this


def backoff(attempts: int) -> timedelta:
    """After the n-th failed attempt: 5 s, 15 s, 45 s, 2 min 15 s."""
    return timedelta(seconds=min(5 * 3 ** max(attempts - 1, 0), 600))


def pending(inbound: Inbound, max_bytes: int) -> list[dict[str, Any]]:
    """The webhook's side: what the message's files are and where to fetch them, nothing downloaded. A Telegram
    photo comes in several sizes: the largest within the limit is the one to fetch (none fits: refused now)."""
    out: list[dict[str, Any]] = []
    for index, a in enumerate(inbound.attachments[: chat_files.MAX_FILES]):
        name = str(a.get("name") or "")
        if inbound.channel == "telegram":
            candidates = a.get("candidates") or [[a.get("telegram_file_id"), a.get("size") or 0]]
            fitting = [c for c in candidates if c[0] and (not c[1] or int(c[1]) <= max_bytes)]
            if not fitting:
                out.append({"name": chat_files.safe_name(name), "refused": "too large"})
                continue
            out.append({"name": name, "pending": True, "source": {"telegram": str(fitting[0][0])}})
        else:  # an MMS's picture: its URL, of Twilio's API
            url = str(a.get("url") or "")
            name = name or f"mms-{index + 1}"
            if not url:
                out.append({"name": chat_files.safe_name(name), "refused": "download failed"})
                continue
            out.append({"name": name, "pending": True, "source": {"url": url}})
    return out


def is_pending(attachments: list[dict[str, Any]] | None) -> bool:
    return any(isinstance(a, dict) and a.get("pending") for a in attachments or [])


async def _download(adapter: Any, source: dict[str, Any], max_bytes: int) -> bytes | None:
    if "telegram" in source:
        return await adapter.download(str(source["telegram"]), max_bytes)  # type: ignore[no-any-return]
    return await adapter.fetch_media(str(source.get("url") or ""), max_bytes)  # type: ignore[no-any-return]


async def fetch(app: Any, ente_id: int, message_id: int) -> bool:
    """One attempt at a message's pending files. Returns True when the message has none pending any more."""
    now = utcnow()
    async with transaction(app.ctx.sessionmaker) as s:
        msg = await s.get(Message, message_id, with_for_update=True)
        if (
            msg is None
            or msg.ente_id != ente_id
            or msg.direction != "in"
            or msg.next_attempt_at is None
            or msg.next_attempt_at > now
        ):
            return msg is None or msg.next_attempt_at is None
        msg.next_attempt_at = now + LEASE  # leased: nobody else fetches it meanwhile
        msg.delivery_attempts += 1
        attempts, channel, seed_id = msg.delivery_attempts, msg.channel, msg.channel_message_id or str(msg.id)
        todo = [(i, dict(a)) for i, a in enumerate(msg.attachments or []) if isinstance(a, dict) and a.get("pending")]
    store = chat_files.store_for(app.ctx.settings)
    adapter = app.ctx.adapters.get(channel)
    done: dict[int, dict[str, Any]] = {}
    for i, a in todo:
        name, seed = str(a.get("name") or ""), f"{channel}:{seed_id}:{i}"
        try:
            if adapter is None:
                raise SendFailed(f"no adapter for {channel}")
            body = await asyncio.wait_for(
                _download(adapter, dict(a.get("source") or {}), store.max_bytes), FETCH_TIMEOUT
            )
        except (SendFailed, TimeoutError) as exc:
            permanent = isinstance(exc, SendFailed) and exc.permanent
            log.warning("file %s of message %s not fetched (attempt %s): %s", i, message_id, attempts, exc)
            if permanent or attempts >= MAX_ATTEMPTS:
                done[i] = chat_files.keep(
                    store, ente_id=ente_id, seed=seed, name=name, body=b"", refused="download failed"
                )
            continue
        if body is None:
            done[i] = chat_files.keep(store, ente_id=ente_id, seed=seed, name=name, body=b"", refused="too large")
        else:
            done[i] = chat_files.keep(store, ente_id=ente_id, seed=seed, name=name, body=body)
    notice_id: int | None = None
    try:
        async with transaction(app.ctx.sessionmaker) as s:
            msg = await s.get(Message, message_id, with_for_update=True)
            if msg is None:  # erased meanwhile: what was written goes too
                store.discard()
                return True
            files = list(msg.attachments or [])
            refused = []
            for i, new in done.items():
                if i < len(files) and isinstance(files[i], dict) and files[i].get("pending"):
                    files[i] = new
                    if new.get("refused"):
                        refused.append(new)
            msg.attachments = files
            left = is_pending(files)
            msg.next_attempt_at = utcnow() + backoff(attempts) if left else None
            conversation_id = msg.conversation_id
            if refused:  # the citizen learns which file was not kept (their words are)
                conv = await conversations.get(s, ente_id=ente_id, conversation_id=conversation_id)
                notice = await conversations.record_outbound(
                    s,
                    conv=conv,
                    text="\n".join(chat_files.refusals(refused, store.max_bytes)),
                    author_kind="system",
                    payload={"notice": "file"},
                    allow_closed=True,
                )
                notice_id = notice.id
    except BaseException:
        store.discard()
        raise
    if notice_id is not None:
        await app.dispatch(
            "urp.message.outbound",
            context={"ente_id": ente_id, "message_id": notice_id, "conversation_id": conversation_id},
            fail_not_found=False,
        )
    if done:  # the operators' views: the message's files changed
        await emit(
            app,
            ente_id,
            {"type": "message", "conversation_id": conversation_id, "message_id": message_id, "files": True},
        )
    return not left


async def fetch_until_done(app: Any, ente_id: int, message_id: int) -> None:
    """Right after the webhook: the attempts in this process, each after its backoff (the scheduler's job takes up
    what a restart cut short)."""
    for _ in range(MAX_ATTEMPTS):
        if await fetch(app, ente_id, message_id):
            return
        async with app.ctx.read_sessionmaker() as s:
            due = await s.scalar(select(Message.next_attempt_at).where(Message.id == message_id))
        if due is None:
            return
        await asyncio.sleep(max(0.0, (due - utcnow()).total_seconds()) + 0.05)


async def fetch_due(app: Any, ente_id: int | None = None, limit: int = 20) -> int:
    """Scheduler job: the messages whose files wait for their next attempt (or whose attempt was cut by a crash)."""
    stmt = select(Message.ente_id, Message.id).where(
        Message.direction == "in", Message.next_attempt_at.is_not(None), Message.next_attempt_at <= utcnow()
    )
    if ente_id is not None:
        stmt = stmt.where(Message.ente_id == ente_id)
    async with app.ctx.read_sessionmaker() as s:
        rows = (await s.execute(stmt.order_by(Message.next_attempt_at).limit(limit))).all()
    for ente, mid in rows:
        await fetch(app, ente, mid)
    return len(rows)

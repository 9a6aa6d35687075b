from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.contacts.models import Contact
from crm.db import reading, transaction, utcnow
from crm.notifications.models import Notification
from crm.notifications.senders import OutboundNotification, Sender, SendError

log = logging.getLogger("urp.notifications")
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... capped at 1 h."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def route(contact: Contact) -> tuple[str, str] | None:
    """(channel, address) for a contact: their preferred channel if reachable there, else any reachable one."""
    identities = {i.channel: i.external_id for i in contact.identities}
    options: dict[str, str] = {}
    if "telegram" in identities:
        options["telegram"] = identities["telegram"]
    if contact.phones:
        options["sms"] = contact.phones[0].e164
    if contact.emails:
        options["email"] = contact.emails[0].email
    if "web" in identities:
        options["web"] = identities["web"]
    if contact.preferred_channel in options:
        return contact.preferred_channel, options[contact.preferred_channel]  # type: ignore[index]
    for ch in ("sms", "telegram", "email", "web"):
        if ch in options:
            return ch, options[ch]
    return None


async def enqueue(
    session: AsyncSession,
    *,
    ente_id: int,
    contact_id: int,
    kind: str,
    text: str,
    dedupe_key: str,
    subject: str = "",
    channel: str | None = None,
) -> Notification | None:
    """Queue a message for the citizen in the caller's transaction. Idempotent on ``dedupe_key``.

    Returns None when the citizen cannot be reached or refused notifications (the event is still recorded by the
    caller's own history).
    """
    existing = await session.scalar(
        select(Notification).where(Notification.ente_id == ente_id, Notification.dedupe_key == dedupe_key)
    )
    if existing is not None:
        return existing
    contact = await session.get(Contact, contact_id)
    if contact is None or contact.ente_id != ente_id or not contact.consent_notifications or contact.anonymised_at:
        return None
    target = route(contact)
    if channel:
        forced = route_for(contact, channel)
        if forced[1]:
            target = (forced[0], forced[1])
    # the citizen's IO app gets its own copy when the ente has an IO service key (crm/notifications/appio.py)
    from crm.notifications import appio

    await appio.also_to_io(
        session, ente_id=ente_id, contact=contact, kind=kind, subject=subject, text=text, dedupe_key=dedupe_key
    )
    if target is None:
        return None
    n = Notification(
        ente_id=ente_id,
        contact_id=contact_id,
        kind=kind,
        channel=target[0],
        address=target[1],
        subject=subject,
        text=text,
        dedupe_key=dedupe_key,
    )
    try:
        async with session.begin_nested():
            session.add(n)
            await session.flush()
    except IntegrityError:
        return await session.scalar(
            select(Notification).where(Notification.ente_id == ente_id, Notification.dedupe_key == dedupe_key)
        )
    return n


def route_for(contact: Contact, channel: str) -> tuple[str, str | None]:
    if channel == "sms":
        return channel, contact.phones[0].e164 if contact.phones else None
    if channel == "email":
        return channel, contact.emails[0].email if contact.emails else None
    ident = next((i.external_id for i in contact.identities if i.channel == channel), None)
    return channel, ident


async def _claim(
    maker: async_sessionmaker[AsyncSession], limit: int, ente_id: int | None = None
) -> list[OutboundNotification]:
    """Lease due rows so parallel dispatchers (replicas) never send the same notification."""
    now = utcnow()
    due = or_(
        (Notification.status == "pending") & (Notification.next_attempt_at <= now),
        (Notification.status == "sending") & (Notification.lease_until < now),
    )
    if ente_id is not None:
        due = due & (Notification.ente_id == ente_id)
    async with reading(maker) as s:  # most rounds find nothing: they must not take the write lock to find it
        if await s.scalar(select(Notification.id).where(due).limit(1)) is None:
            return []
    async with transaction(maker) as s:
        stmt = select(Notification).where(due).order_by(Notification.next_attempt_at, Notification.id).limit(limit)
        if s.bind.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = (await s.scalars(stmt)).all()
        out = []
        for n in rows:
            n.status, n.lease_until = "sending", now + LEASE
            n.attempts += 1
            out.append(
                OutboundNotification(
                    n.id,
                    n.ente_id,
                    n.contact_id,
                    n.channel,
                    n.address,
                    n.subject,
                    n.text,
                    n.kind,
                    n.attachment_name,
                    n.attachment,
                )
            )
    return out


async def dispatch_due(
    maker: async_sessionmaker[AsyncSession], senders: Mapping[str, Sender], limit: int = 50, ente_id: int | None = None
) -> int:
    """Send what is due (optionally for one ente); returns how many were sent. Safe in several processes at once."""
    sent = 0
    for msg in await _claim(maker, limit, ente_id):
        sender = senders.get(msg.channel)
        provider_id, error, permanent = None, None, False
        if sender is None:
            error, permanent = f"no sender for channel {msg.channel}", False
        else:
            try:
                provider_id = await sender.send(msg)
            except SendError as exc:
                error, permanent = str(exc)[:500], exc.permanent
            except Exception as exc:  # a sender bug must not kill the loop; the row is retried
                log.exception("sender %s failed for notification %s", msg.channel, msg.id)
                error = f"{type(exc).__name__}"
        async with transaction(maker) as s:
            n = await s.get(Notification, msg.id)
            assert n is not None
            n.lease_until = None
            if error is None:
                n.status, n.provider_id, n.sent_at, n.last_error = "sent", provider_id, utcnow(), None
                sent += 1
            elif permanent or n.attempts >= MAX_ATTEMPTS:
                n.status, n.last_error = "failed", error
            else:
                n.status, n.last_error = "pending", error
                n.next_attempt_at = utcnow() + backoff(n.attempts)
    return sent

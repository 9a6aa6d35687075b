"""The hub: every inbound message is stored first, then routed; every reply is stored, then sent.

    channel webhook/socket -> receive() -> contacts + conversations (stored) -> bot mode? -> Rasa -> replies stored
                                                                              -> handed off? -> operators (event)
    stored outbound message -> deliver() -> channel adapter.send() -> delivery status recorded (retried if failed)
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select

from channels.base import Inbound, SendFailed, buttons_from_payload
from channels.rasa_client import RasaUnavailable, ask_rasa
from channels.turn_token import METADATA_KEY, Turn, secret_of, sender_of, sign
from crm.contacts import service as contacts
from crm.contacts.models import Contact
from crm.conversations import service as conversations
from crm.conversations.models import Conversation, Message, MessagePart
from crm.db import transaction, utcnow
from crm.events import emit

log = logging.getLogger("urp.hub")

HOLDING = ("Il nostro assistente virtuale in questo momento non risponde. Ho passato la sua richiesta a un "
           "operatore dell'URP, che le risponderà qui appena possibile.")
OPTED_OUT = ("Ha scelto di non ricevere più messaggi da questo numero. Per riattivarli risponda START. "
             "Per informazioni chiami l'URP allo 0761 123456.")
OPTED_IN = "Messaggi riattivati. Come posso aiutarla?"
MAX_ATTEMPTS = 6


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(15 * 2 ** max(attempts - 1, 0), 1800))


async def receive(app: Any, ente_id: int, msg: Inbound) -> dict[str, Any]:
    """Store, then route. Idempotent: a retried webhook returns {"duplicate": True} and does nothing else."""
    maker = app.ctx.sessionmaker
    async with transaction(maker) as s:
        contact, _ = await contacts.find_or_create_by_identity(
            s, ente_id=ente_id, channel=msg.channel, external_id=msg.address, phone=msg.phone,
            first_name=msg.display_name[:100])
        conv, stored, duplicate = await conversations.record_inbound(
            s, ente_id=ente_id, contact_id=contact.id, channel=msg.channel, text=msg.text,
            channel_message_id=msg.channel_message_id, payload=msg.payload, attachments=msg.attachments)
        conv_id, contact_id, mode, msg_id = conv.id, contact.id, conv.mode, stored.id
    if duplicate:
        return {"duplicate": True, "conversation_id": conv_id, "message_id": msg_id}
    await emit(app, ente_id, {"type": "message", "conversation_id": conv_id, "message_id": msg_id, "mode": mode})
    if mode != "bot":
        return {"duplicate": False, "conversation_id": conv_id, "routed": "operators"}
    await _typing(app, ente_id, conv_id, msg)
    settings = app.ctx.settings
    # the actions trust only what the hub signs: who is talking, in which conversation, for this turn
    metadata = {METADATA_KEY: sign(Turn(conv_id, contact_id, ente_id, msg.channel), secret_of(settings))}
    try:
        replies = await ask_rasa(settings.rasa_url, settings.rasa_token.get_secret_value() if settings.rasa_token else None,
                                 sender=sender_of(conv_id), text=msg.payload.get("intent_payload") or msg.text,
                                 metadata=metadata, timeout=app.ctx.channel_settings.rasa_timeout_seconds)
    except RasaUnavailable as exc:
        log.warning("rasa unavailable for conversation %s (%s): handing off", conv_id, exc)
        await _holding_and_handoff(app, ente_id, conv_id)
        return {"duplicate": False, "conversation_id": conv_id, "routed": "operators", "rasa": "unavailable"}
    ids = []
    async with transaction(maker) as s:
        conv = await conversations.get(s, ente_id=ente_id, conversation_id=conv_id)
        if conv.mode != "bot":
            # the bot handed off during this turn: its goodbye still goes out, the conversation stays with operators
            pass
        for r in replies:
            payload = {"buttons": r["buttons"]} if r.get("buttons") else {}
            out = await conversations.record_outbound(s, conv=conv, text=r.get("text") or "", author_kind="bot",
                                                      payload=payload)
            ids.append(out.id)
    for mid in ids:
        await deliver(app, ente_id, mid)
    return {"duplicate": False, "conversation_id": conv_id, "routed": "bot", "replies": len(ids)}


async def _typing(app: Any, ente_id: int, conv_id: int, msg: Inbound) -> None:
    if msg.channel == "web":
        await app.ctx.pubsub.publish(f"webchat:{msg.address}", {"type": "typing"})


async def _holding_and_handoff(app: Any, ente_id: int, conv_id: int) -> None:
    async with transaction(app.ctx.sessionmaker) as s:
        conv = await conversations.get(s, ente_id=ente_id, conversation_id=conv_id, lock=True)
        out = await conversations.record_outbound(s, conv=conv, text=HOLDING, author_kind="system")
        if conv.mode == "bot":
            await conversations.handoff(s, ente_id=ente_id, conversation_id=conv_id, topic_slug=None,
                                        summary="Assistente virtuale non disponibile: il cittadino attende un operatore.",
                                        context={"reason": "rasa_unavailable"})
        out_id = out.id
    await deliver(app, ente_id, out_id)
    await emit(app, ente_id, {"type": "conversation", "id": conv_id, "mode": "waiting", "topic": None})


async def _address(s: Any, conv: Conversation) -> str | None:
    contact = await s.get(Contact, conv.contact_id)
    if contact is None:
        return None
    ident = next((i.external_id for i in contact.identities if i.channel == conv.channel), None)
    if ident is None and conv.channel == "sms" and contact.phones:
        return contact.phones[0].e164
    return ident


async def deliver(app: Any, ente_id: int, message_id: int, *, ignore_opt_out: bool = False) -> bool:
    """Send one stored outbound message on its conversation's channel and record the outcome.

    ``ignore_opt_out``: the STOP confirmation, the last message an opted-out number receives."""
    maker = app.ctx.sessionmaker
    async with transaction(maker) as s:
        m = await s.scalar(select(Message).where(Message.ente_id == ente_id, Message.id == message_id).with_for_update())
        if m is None or m.direction != "out" or m.private or m.delivery_status in ("sent", "delivered"):
            return False
        exhausted = m.delivery_attempts >= MAX_ATTEMPTS
        if exhausted:
            # every attempt spent and the last outcome never recorded (the send may well have gone out): the
            # operators see it failed; it is not sent once more at every lease
            m.delivery_status, m.next_attempt_at = "failed", None
            m.delivery_error = m.delivery_error or "outcome of the last send not recorded"
        else:
            conv = await s.get(Conversation, m.conversation_id)
            address = await _address(s, conv) if conv else None
            contact = await s.get(Contact, conv.contact_id) if conv else None
            opted_out = not ignore_opt_out and contact is not None and m.channel == "sms" and _sms_opted_out(contact)
            m.delivery_attempts += 1
            m.next_attempt_at = utcnow() + timedelta(minutes=5)  # a lease: a crashed send is retried, not lost
        text, buttons, channel, conv_id = m.text, buttons_from_payload(m.payload), m.channel, m.conversation_id
    if exhausted:
        await emit(app, ente_id, {"type": "delivery", "conversation_id": conv_id, "message_id": message_id,
                                  "status": "failed"})
        return False
    adapter = app.ctx.adapters.get(channel)
    provider_id: str | list[str] | None = None
    error, permanent = None, False
    if opted_out:
        error, permanent = "citizen opted out of SMS", True
    elif address is None:
        error, permanent = "no address for this channel", True
    elif adapter is None or not adapter.configured:
        error = f"channel {channel} not configured"
    else:
        try:
            provider_id = await adapter.send(address, text, buttons)
        except SendFailed as exc:
            error, permanent = str(exc)[:500], exc.permanent
        except Exception as exc:  # noqa: BLE001 - a provider bug must not lose the message; retried
            log.exception("send failed on %s for message %s", channel, message_id)
            error = type(exc).__name__
    async with transaction(maker) as s:
        m = await s.get(Message, message_id)
        assert m is not None
        if error is None:
            m.delivery_status, m.delivery_error, m.next_attempt_at = "sent", None, None
            ids = [provider_id] if isinstance(provider_id, str) else list(provider_id or [])
            if ids and not m.channel_message_id:
                m.channel_message_id = ids[0]
            if len(ids) > 1:  # a long SMS: every part's SID, for the per-part delivery callbacks
                s.add_all(MessagePart(message_id=m.id, part=i, provider_id=pid) for i, pid in enumerate(ids))
        else:
            m.delivery_status, m.delivery_error = "failed", error
            m.next_attempt_at = None if permanent or m.delivery_attempts >= MAX_ATTEMPTS else (
                utcnow() + _backoff(m.delivery_attempts))
        status = m.delivery_status
    await emit(app, ente_id, {"type": "delivery", "conversation_id": conv_id, "message_id": message_id,
                              "status": status})
    return error is None


def _sms_opted_out(contact: Contact) -> bool:
    return "sms" in (contact.opted_out_channels or [])


async def retry_due(app: Any, limit: int = 50, ente_id: int | None = None) -> int:
    """Scheduler job: resend failed (or stuck) outbound messages whose backoff has expired."""
    now = utcnow()
    stmt = select(Message.ente_id, Message.id).where(
        Message.direction == "out", Message.private.is_(False),
        or_(Message.delivery_status == "failed", Message.delivery_status == "pending"),
        Message.next_attempt_at.is_not(None), Message.next_attempt_at <= now)
    if ente_id is not None:
        stmt = stmt.where(Message.ente_id == ente_id)
    async with app.ctx.read_sessionmaker() as s:
        rows = (await s.execute(stmt.order_by(Message.next_attempt_at).limit(limit))).all()
    sent = 0
    for ente_id, mid in rows:
        sent += await deliver(app, ente_id, mid)
    return sent

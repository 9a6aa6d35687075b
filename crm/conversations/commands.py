"""The operators' and the assistant's changes to a conversation, one function each: permission, service call, audit
line, live event (and, after commit, the signal that makes the channel hub send a stored reply).

The hub's own recording of citizens' and the bot's messages (``service.record_inbound``/``record_outbound``) is the
message pipeline, not a user's change, and stays with the hub.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select

from crm.contacts import commands as contact_commands
from crm.contacts import service as contacts
from crm.contacts.schemas import CapturedIn
from crm.conversations import files as chat_files
from crm.conversations import policies, reads, sla, transcript
from crm.conversations import service as svc
from crm.conversations.models import Conversation, ConversationRating, Message
from crm.core.commands import Context, command
from crm.core.errors import Conflict, Forbidden, NotFound, TooManyRequests, ValidationFailed
from crm.db import utcnow
from crm.entes import service as entes
from crm.instances.service import FileStore
from crm.notifications.models import Notification
from crm.offices import service as offices
from crm.operators.models import Operator

OUTBOUND_SIGNAL = "urp.message.outbound"  # the hub sends the stored message and records the outcome
OPERATOR_TYPING = "urp.operator.typing"  # the hub tells the citizen an operator is writing (a hint: nothing stored)
# what the citizen reads when the person on the other side changes (gender-neutral: the operator's name varies)
JOINED = "{name} dell'URP ha preso in carico la conversazione e le risponderà qui."
TRANSFERRED = "La conversazione è stata passata all'ufficio competente: un operatore le risponderà qui."
BACK_TO_BOT = "È tornato l'assistente virtuale: può continuare a scrivere qui le sue domande."
CLOSED = "La conversazione è stata chiusa. Grazie per averci scritto."
# the closing notice offers the transcript in words: the widget's button, or a reply word on SMS and Telegram
TRANSCRIPT_OFFER = {
    "web": "Se desidera la trascrizione, usi il pulsante «Ricevi la trascrizione via e-mail» qui sotto.",
    "sms": "Per ricevere la trascrizione via e-mail risponda TRASCRIZIONE seguito dal suo indirizzo e-mail.",
    "telegram": "Per ricevere la trascrizione via e-mail risponda TRASCRIZIONE seguito dal suo indirizzo e-mail.",
}
CSAT_QUESTION = (
    "Come valuta l'aiuto ricevuto? Risponda con un numero da 1 (per niente soddisfatto) a 5 (molto soddisfatto)."
)
CSAT_BUTTONS = [{"title": str(n), "payload": f"{svc.SCORE_PAYLOAD}{n}"} for n in range(1, 6)]
CSAT_THANKS = (
    "Grazie per la valutazione! Se vuole, ci scriva ora in un messaggio un commento su come è andata; "
    "altrimenti non serve rispondere."
)
CSAT_COMMENT_THANKS = "Grazie, il suo commento è stato registrato."


async def _changed(cx: Context, conv: Conversation, action: str, signal: str | None = None) -> None:
    topic = (
        (await offices.get_topic(cx.session, ente_id=cx.ente_id, topic_id=conv.topic_id)).slug
        if conv.topic_id
        else None
    )
    await cx.record(action, "conversation", conv.id, event={"type": "conversation", "mode": conv.mode, "topic": topic})
    if signal and cx.app is not None:
        app, context = cx.app, {"ente_id": cx.ente_id, "conversation_id": conv.id}
        cx.after_commit(lambda: app.dispatch(signal, context=context, fail_not_found=False))


def _send_after_commit(cx: Context, msg: Message) -> None:
    if cx.app is not None:
        app = cx.app
        context = {"ente_id": cx.ente_id, "message_id": msg.id, "conversation_id": msg.conversation_id}
        cx.after_commit(lambda: app.dispatch(OUTBOUND_SIGNAL, context=context, fail_not_found=False))


async def _notice(
    cx: Context,
    conv: Conversation,
    kind: str,
    text: str,
    *,
    name: str = "",
    buttons: list[dict[str, str]] | None = None,
) -> Message | None:
    """A system message that tells the citizen who is talking now (stored, then sent on their channel like any
    reply): the widget shows it apart, SMS and Telegram in words."""
    if conv.channel not in svc.RATED_CHANNELS:
        return None
    payload: dict[str, object] = {"notice": kind}
    if name:
        payload["author_name"] = name
    if buttons:
        payload["buttons"] = buttons
    msg = await svc.record_outbound(
        cx.session, conv=conv, text=text, author_kind="system", payload=payload, allow_closed=True
    )
    _send_after_commit(cx, msg)
    return msg


async def _operator_name(cx: Context, operator_id: int | None) -> str:
    op = await cx.session.get(Operator, operator_id) if operator_id is not None else None
    return svc.first_name(op)


@command(policies.HANDOFF)
async def handoff(
    cx: Context, *, conversation_id: int, topic: str | None, summary: str = "", context: dict[str, Any] | None = None
) -> Conversation:
    """Put the conversation in the operators' queue with the assistant's summary (a repeat changes nothing)."""
    before = (await svc.get(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id)).mode
    conv = await svc.handoff(
        cx.session,
        ente_id=cx.ente_id,
        conversation_id=conversation_id,
        topic_slug=topic,
        summary=summary,
        context=context or {},
    )
    if before != "waiting":
        await _changed(cx, conv, "handoff", "urp.conversation.handoff")
    return conv


@command(policies.HANDLE)
async def take(cx: Context, *, conversation_id: int) -> Conversation:
    operator_id = cx.principal.operator_id
    if operator_id is None:
        raise Forbidden("only an operator can take a conversation")
    before = await svc.get(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id)
    already = before.mode == "assigned" and before.assignee_id == operator_id
    conv = await svc.take(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id, operator_id=operator_id)
    if not already:
        name = await _operator_name(cx, operator_id)
        await _notice(cx, conv, "joined", JOINED.format(name=name), name=name)
        await _changed(cx, conv, "take", "urp.conversation.take")
    return conv


@command(policies.HANDLE)
async def transfer(
    cx: Context, *, conversation_id: int, topic: str | None, operator_id: int | None = None
) -> Conversation:
    """To another topic's queue, or straight to an operator."""
    conv = await svc.transfer(
        cx.session, ente_id=cx.ente_id, conversation_id=conversation_id, topic_slug=topic, operator_id=operator_id
    )
    if operator_id is not None:
        name = await _operator_name(cx, operator_id)
        await _notice(cx, conv, "joined", JOINED.format(name=name), name=name)
    else:
        await _notice(cx, conv, "transferred", TRANSFERRED)
    await _changed(cx, conv, "transfer", "urp.conversation.transfer")
    return conv


@command(policies.HANDLE)
async def return_to_bot(cx: Context, *, conversation_id: int) -> Conversation:
    conv = await svc.return_to_bot(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id)
    await _notice(cx, conv, "back", BACK_TO_BOT)
    await _changed(cx, conv, "return_to_bot", "urp.conversation.returntobot")
    return conv


@command(policies.CLOSE)
async def close(cx: Context, *, conversation_id: int) -> Conversation:
    """Close it; the citizen's next message opens a new one (closing a closed one changes nothing). The citizen is
    told, and, when an operator handled the conversation, asked to rate it (``answer_rating``)."""
    before = await svc.get(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id)
    was, operator_id, handled = before.mode, before.assignee_id, before.taken_at is not None
    conv = await svc.close(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id)
    if was != "closed":
        name = await _operator_name(cx, operator_id) if operator_id is not None else ""
        offer = TRANSCRIPT_OFFER.get(conv.channel)
        await _notice(cx, conv, "closed", f"{CLOSED} {offer}" if offer else CLOSED, name=name)
        if handled and conv.channel in svc.RATED_CHANNELS:
            await svc.ask_rating(cx.session, conv, operator_id=operator_id)
            await _notice(cx, conv, "rating", CSAT_QUESTION, buttons=CSAT_BUTTONS)
        await _changed(cx, conv, "close", "urp.conversation.close")
    return conv


@command(policies.RATE)
async def answer_rating(
    cx: Context, *, rating_id: int, text: str, payload: str = "", channel_message_id: str | None = None
) -> Message | None:
    """A citizen's message while their satisfaction question is open: the score (1-5), then one optional comment,
    each stored on the rated conversation and thanked. Anything else (a new question) is not an answer: the
    question is dropped and ``None`` returned, so the message starts a new conversation as usual."""
    rating = await cx.session.get(ConversationRating, rating_id)
    if rating is None or rating.ente_id != cx.ente_id:
        return None
    conv = await svc.get(cx.session, ente_id=cx.ente_id, conversation_id=rating.conversation_id)
    now = utcnow()
    score = svc.parse_score(text, payload)
    if rating.state == "asked" and score is not None:
        rating.score, rating.state, rating.answered_at = score, "comment", now
        thanks, details = CSAT_THANKS, {"score": score}
    elif (
        rating.state == "comment"
        and score is None
        and text.strip()
        and rating.answered_at is not None
        and now - rating.answered_at <= svc.COMMENT_WINDOW
    ):
        rating.comment, rating.state = text.strip()[:2000], "done"
        thanks, details = CSAT_COMMENT_THANKS, {"comment": True}
    else:
        rating.state = "done" if rating.state == "comment" else "skipped"
        await cx.record("rating_dropped", "conversation", conv.id, details={"state": rating.state})
        return None
    stored = await svc.record_answer(
        cx.session,
        conv=conv,
        text=text,
        channel_message_id=channel_message_id,
        payload={"intent_payload": payload} if payload else None,
    )
    await cx.record(
        "rate",
        "conversation",
        conv.id,
        details=details,
        event={"type": "message", "conversation_id": conv.id, "message_id": stored.id},
    )
    reply = await svc.record_outbound(
        cx.session, conv=conv, text=thanks, author_kind="system", payload={"notice": "rated"}, allow_closed=True
    )
    _send_after_commit(cx, reply)
    return stored


NO_FILES_ON = {"sms": "Su SMS non si possono inviare file: descriva il contenuto nel messaggio o lo invii per e-mail."}


async def _message(
    cx: Context,
    conversation_id: int,
    text: str,
    *,
    private: bool,
    files: list[tuple[str, bytes]] | None = None,
    store: FileStore | None = None,
) -> Message:
    conv = await svc.get(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id, lock=True)
    payload = {} if private else {"author_name": await _operator_name(cx, cx.principal.operator_id)}
    attachments = _operator_files(conv, files or [], store) if files else []
    msg = await svc.record_outbound(
        cx.session,
        conv=conv,
        text=text,
        author_kind="operator",
        operator_id=cx.principal.operator_id,
        private=private,
        payload=payload,
    )
    msg.attachments = attachments
    await cx.record(
        "note" if private else "reply",
        "conversation",
        conv.id,
        details={"message_id": msg.id, **({"files": len(attachments)} if attachments else {})},
        event={"type": "message", "conversation_id": conv.id, "message_id": msg.id},
    )
    if not private:
        _send_after_commit(cx, msg)
    return msg


def _operator_files(
    conv: Conversation, files: list[tuple[str, bytes]], store: FileStore | None
) -> list[dict[str, Any]]:
    """An operator's files, under the citizens' rules; refused with the reason in Italian (nothing is sent)."""
    if conv.channel in NO_FILES_ON:
        raise ValidationFailed(NO_FILES_ON[conv.channel], fields={"file": "channel"})
    if store is None:
        raise ValueError("files given without a file store")
    if len(files) > chat_files.MAX_FILES:
        raise ValidationFailed(f"Al massimo {chat_files.MAX_FILES} file per messaggio.", fields={"file": "too many"})
    out = []
    for name, body in files:
        described = chat_files.keep(store, ente_id=conv.ente_id, seed=None, name=name, body=body)
        if described.get("refused"):
            message = chat_files.refusals([described], store.max_bytes)[0]
            raise ValidationFailed(message, fields={"file": str(described["refused"])})
        out.append(described)
    return out


@command(policies.HANDLE)
async def reply(
    cx: Context,
    *,
    conversation_id: int,
    text: str,
    files: list[tuple[str, bytes]] | None = None,
    store: FileStore | None = None,
) -> Message:
    """A reply on the citizen's channel: stored now, sent by the hub after commit. Only the operator holding the
    conversation replies (an admin may step in). ``files`` (name, content) go with it, checked like the citizens'
    (not on SMS); the caller discards the ``store``'s new files if the transaction rolls back."""
    conv = await svc.get(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id)
    if conv.mode == "closed":
        raise Conflict("conversation is closed")
    mine = conv.mode == "assigned" and conv.assignee_id == cx.principal.operator_id
    if not mine and cx.principal.role != "admin":
        raise Forbidden("take the conversation before replying")
    return await _message(cx, conversation_id, text, private=False, files=files, store=store)


@command(policies.HANDLE)
async def note(cx: Context, *, conversation_id: int, text: str) -> Message:
    """An internal note: operators see it, the citizen never does."""
    return await _message(cx, conversation_id, text, private=True)


@command(policies.ESCALATE)
async def escalate(cx: Context, *, conversation_id: int, now: datetime | None = None) -> bool:
    """A handed-off chat whose first-response time ran out unanswered: marked once, with an audit line, and the
    live event that tells the supervisors (admins) and the holder of the chat in their workspace. False when it is
    not late (answered, closed or escalated meanwhile)."""
    conv = await svc.get(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id, lock=True)
    clk = sla.clock(conv, await sla.targets(cx.session, cx.ente_id), now or utcnow())
    if clk is None or clk.state != "late" or conv.sla_escalated_at is not None:
        return False
    conv.sla_escalated_at = utcnow()
    await cx.record(
        "sla_escalate",
        "conversation",
        conv.id,
        details={"target_minutes": clk.target_minutes, "due_at": clk.due_at.isoformat()},
        event={"mode": conv.mode, "sla": "late", "assignee_id": conv.assignee_id},
    )
    return True


@command(policies.HANDLE)
async def attach_file(
    cx: Context, *, message_id: int, index: int, target: str, target_id: int, store: FileStore
) -> None:
    """A file of the conversation attached to one of the same citizen's open requests (named in its history) or
    istanze (copied among its attachments, kind ``chat``): one change, recorded by the request's or the istanza's
    command (its audit line names the file). The caller discards the ``store``'s new files if the transaction rolls
    back."""
    from crm.instances import commands as instance_commands
    from crm.instances import service as instances
    from crm.tickets import commands as ticket_commands
    from crm.tickets import service as tickets

    m, a = await svc.get_file(cx.session, ente_id=cx.ente_id, message_id=message_id, index=index)
    conv = await svc.get(cx.session, ente_id=cx.ente_id, conversation_id=m.conversation_id)
    if target == "request":
        ticket = await tickets.get(cx.session, ente_id=cx.ente_id, ticket_id=target_id)
        if ticket.contact_id != conv.contact_id:
            raise Conflict("la richiesta è di un altro cittadino")
        await ticket_commands.add_file(cx, ticket_id=target_id, ref=f"{m.id}:{index}", label=chat_files.label(a))
    elif target == "instance":
        inst = await instances.get(cx.session, ente_id=cx.ente_id, instance_id=target_id)
        if inst.contact_id != conv.contact_id:
            raise Conflict("l'istanza è di un altro cittadino")
        try:
            body = chat_files.path_of(store.root, str(a["key"])).read_bytes()
        except (OSError, ValueError):
            raise NotFound("il file non è più disponibile") from None
        await instance_commands.add_attachment(
            cx,
            instance_id=target_id,
            kind="chat",
            filename=str(a.get("name") or "allegato"),
            content_type=str(a["content_type"]),
            body=body,
            store=store,
        )
    else:
        raise ValidationFailed("destinazione sconosciuta", fields={"target": "unknown"})


@command(policies.VIEW)
async def mark_read(cx: Context, *, conversation_id: int) -> bool:
    """The operator opened the conversation: read up to its last message (their unread count clears). The read
    itself is audited by the screen that shows the messages (``cx.read``); this only moves the operator's marker,
    which nobody else sees, so no audit line and no event of its own."""
    if cx.principal.operator_id is None:
        return False
    return await reads.mark_read(
        cx.session, ente_id=cx.ente_id, conversation_id=conversation_id, operator_id=cx.principal.operator_id
    )


EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
TRANSCRIPT_EVERY = timedelta(minutes=10)  # one transcript e-mail per conversation in this time


@dataclass(frozen=True)
class TranscriptSent:
    notification: Notification
    address: str  # where it went
    given: bool  # the citizen gave the address now (else: the contact's own e-mail)


@command(policies.TRANSCRIPT)
async def send_transcript(cx: Context, *, conversation_id: int, email: str | None = None) -> TranscriptSent:
    """The transcript of a conversation by e-mail (the text in the body, the PDF attached), queued in the outbox.

    Sent to the address the citizen gives now, or without one to the contact's own e-mail; with neither the
    ``email`` field is ``required``. An address given now fills the contact's empty e-mail through the contacts'
    ``capture`` (one that differs from the contact's is kept as a conflict for an operator, never written over it).
    A repeat with nothing new said queues nothing more; another transcript of the same conversation within
    ``TRANSCRIPT_EVERY`` is refused (``TooManyRequests``). Internal notes are never in it."""
    conv = await svc.get(cx.session, ente_id=cx.ente_id, conversation_id=conversation_id)
    contact = await contacts.get(cx.session, ente_id=cx.ente_id, contact_id=conv.contact_id)
    given = bool(email and email.strip())
    if given:
        address = (email or "").strip()
        if len(address) > 254 or not EMAIL_RE.match(address):
            raise ValidationFailed("invalid e-mail address", fields={"email": "invalid"})
        try:
            captured = CapturedIn(email=address)
        except PydanticValidationError:
            raise ValidationFailed("invalid e-mail address", fields={"email": "invalid"}) from None
    elif contact.emails and contact.anonymised_at is None:
        address = contact.emails[0].email
    else:
        raise ValidationFailed("no e-mail address for this contact", fields={"email": "required"})
    ente = await entes.get(cx.session, cx.ente_id)
    t = await transcript.build(cx.session, ente_id=cx.ente_id, conversation_id=conv.id, ente_name=ente.name, tz=ente.tz)
    said = await svc.messages(cx.session, ente_id=cx.ente_id, conversation_id=conv.id, include_private=False)
    last = max((m.id for m in said), default=0)
    prefix = f"transcript:{conv.id}:"
    key = f"{prefix}{last}:{hashlib.sha256(address.lower().encode()).hexdigest()[:16]}"
    n = await cx.session.scalar(
        select(Notification).where(Notification.ente_id == cx.ente_id, Notification.dedupe_key == key)
    )
    if n is None:
        recent = await cx.session.scalar(
            select(Notification.created_at)
            .where(
                Notification.ente_id == cx.ente_id,
                Notification.kind == "conversation.transcript",
                Notification.dedupe_key.startswith(prefix),
                Notification.created_at > utcnow() - TRANSCRIPT_EVERY,
            )
            .order_by(Notification.created_at.desc())
            .limit(1)
        )
        if recent is not None:
            wait = int((recent + TRANSCRIPT_EVERY - utcnow()).total_seconds()) + 1
            raise TooManyRequests(
                "a transcript of this conversation was sent lately", headers={"Retry-After": str(max(wait, 1))}
            )
        if given:
            await contact_commands.capture(cx, contact_id=contact.id, data=captured, source="transcript")
        n = Notification(
            ente_id=cx.ente_id,
            contact_id=conv.contact_id,
            kind="conversation.transcript",
            channel="email",
            address=address,
            subject=f"Trascrizione della conversazione con {ente.name}",
            text=t.text() + "\n\nIn allegato la stessa trascrizione in PDF.",
            dedupe_key=key,
            attachment_name=f"trascrizione-conversazione-{conv.id}.pdf",
            attachment=transcript.pdf(t),
        )
        cx.session.add(n)
        await cx.session.flush()
    await cx.record(
        "transcript",
        "conversation",
        conv.id,
        details={"channel": "email", "notification_id": n.id, "address": "given" if given else "contact"},
        event={"mode": conv.mode},
    )
    return TranscriptSent(notification=n, address=address, given=given)

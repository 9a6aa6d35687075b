"""The hub: every inbound message is stored before it is acknowledged, answered off the connection, and every reply
is stored before it is sent, then sent once.

    webhook / socket -> accept(): contact + conversation + message + its turn, one transaction -> 200 / {ack, id}
    turn queue (channels/queue.py) -> run_turn(): in bot mode -> Rasa -> replies stored -> delivered, in order
                                               -> handed off meanwhile -> left to the operators
                                               -> Rasa down, silent or slow, or the turn too old -> holding message
                                                  + handoff: every turn ends in an answer
    stored outbound message -> deliver(): pending -> sending (a lease) -> adapter.send() -> sent / failed (retried)

What no client may cut (the accept, each send-and-record) runs through ``crm.tasks.uncancellable``; the turns run in
the queue's workers, which no disconnect reaches.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, select, update

from channels.base import Button, Inbound, OutFile, SendFailed, buttons_from_payload
from channels.queue import TurnCtx, address_of, lock_conversation, percentiles, rowcount
from channels.rasa_client import RasaUnavailable
from channels.turn_token import METADATA_KEY, Turn, secret_of, sender_of, sign
from crm.contacts import service as contacts
from crm.contacts.models import Contact
from crm.conversations import commands as conversation_commands
from crm.conversations import files as chat_files
from crm.conversations import service as conversations
from crm.conversations import transcript
from crm.conversations.models import Conversation, Message, MessagePart
from crm.core.auth import Principal
from crm.core.commands import Context
from crm.core.errors import TooManyRequests, ValidationFailed
from crm.db import transaction, utcnow
from crm.events import emit
from crm.tasks import uncancellable

log = logging.getLogger("urp.hub")

HOLDING = (
    "Il nostro assistente virtuale in questo momento non risponde. Ho passato la sua richiesta a un "
    "operatore dell'URP, che le risponderà qui appena possibile."
)
OPTED_OUT = (
    "Ha scelto di non ricevere più messaggi da questo numero. Per riattivarli risponda START. "
    "Per informazioni chiami l'URP allo 0761 123456."
)
OPTED_IN = "Messaggi riattivati. Come posso aiutarla?"
# a file alone, while the assistant answers: it cannot read it, a person can
FILE_RECEIVED = (
    "Ho ricevuto il suo file. L'assistente virtuale non può leggerne il contenuto: se vuole che lo esamini un "
    "operatore dell'URP, scriva «operatore»; altrimenti mi scriva pure la sua domanda."
)
MAX_ATTEMPTS = 6
SEND_LEASE = timedelta(minutes=2)  # a send cut by a crash is tried again after this (the crash window, README)
HANDOFF_SUMMARY = {
    "rasa_unavailable": "Assistente virtuale non disponibile: il cittadino attende un operatore.",
    "empty_answer": "L'assistente virtuale non ha risposto (servizio delle azioni non disponibile?): il cittadino "
    "attende un operatore.",
    "stale": "Messaggio rimasto senza risposta troppo a lungo (riavvio o guasto): il cittadino attende un operatore.",
}


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(15 * 2 ** max(attempts - 1, 0), 1800))


# --- inbound ---------------------------------------------------------------------------------------------------------
@dataclass
class Accepted:
    message_id: int
    conversation_id: int
    duplicate: bool
    mode: str
    ctx: TurnCtx | None = None  # the turn to start now (bot mode, none running)
    queued: bool = False  # a turn waits in the queue: wake it


async def accept(app: Any, ente_id: int, msg: Inbound) -> Accepted:
    """Store the message and queue its turn in one transaction; the caller acknowledges only after this returns.
    A retry of the same message (same channel message id) is stored once, and its turn, if still unfinished, is
    run, not skipped. Runs to its end even if the caller is cancelled (the provider hung up, the tab closed)."""
    return await uncancellable(_accept(app, ente_id, msg))


async def _accept(app: Any, ente_id: int, msg: Inbound) -> Accepted:
    queue = app.ctx.turns
    ctx: TurnCtx | None = None
    queued = False
    rated: Context | None = None
    refusal_id: int | None = None
    reply_id: int | None = None
    async with transaction(app.ctx.sessionmaker) as s:
        contact_id, _ = await contacts.contact_id_for_identity(
            s,
            ente_id=ente_id,
            channel=msg.channel,
            external_id=msg.address,
            phone=msg.phone,
            first_name=msg.display_name[:100],
        )
        # a retry of a message already stored (the same channel message id) is answered as a duplicate: looked up
        # once here for the transcript request, the rating's answer and the record
        retry = bool(msg.channel_message_id) and (
            await conversations.find_by_channel_message_id(
                s, ente_id=ente_id, channel=msg.channel, channel_message_id=msg.channel_message_id or ""
            )
            is not None
        )
        answer: Message | None = None
        if not retry:
            rated, answer, reply_id = await _transcript_request(app, s, ente_id, contact_id, msg)
            if answer is None:
                rated, answer = await _rating_answer(app, s, ente_id, contact_id, msg)
        if answer is not None:  # the rated conversation's answer: no turn, no new conversation
            accepted = Accepted(
                message_id=answer.id, conversation_id=answer.conversation_id, duplicate=False, mode="closed"
            )
        else:
            accepted = await _record(s, queue, ente_id, contact_id, msg, checked_new=not retry)
            ctx, queued = accepted.ctx, accepted.queued
            refused = (
                chat_files.refusals(msg.attachments, app.ctx.settings.attachments_max_bytes)
                if not accepted.duplicate
                else []
            )
            if refused:  # the citizen learns at once which file was not kept (their words are)
                conv = await s.get(Conversation, accepted.conversation_id)
                assert conv is not None
                notice = await conversations.record_outbound(
                    s, conv=conv, text="\n".join(refused), author_kind="system", payload={"notice": "file"}
                )
                refusal_id = notice.id
    if rated is not None:
        await rated.publish()  # its thanks go out, its events (the answer, or the question dropped) after commit
    for sent_id in (refusal_id, reply_id):  # sent like an operator's reply (stored with a retry time if lost)
        if sent_id is not None:
            await app.dispatch(
                "urp.message.outbound",
                context={"ente_id": ente_id, "message_id": sent_id, "conversation_id": accepted.conversation_id},
                fail_not_found=False,
            )
    if ctx is not None:
        queue.start(ctx)
    elif queued:
        queue.wake()
    if not accepted.duplicate:
        await emit(
            app,
            ente_id,
            {
                "type": "message",
                "conversation_id": accepted.conversation_id,
                "message_id": accepted.message_id,
                "mode": accepted.mode,
            },
        )
    return accepted


async def _record(
    s: Any, queue: Any, ente_id: int, contact_id: int, msg: Inbound, *, checked_new: bool = False
) -> Accepted:
    """The message in the contact's open conversation, and its turn queued (or started) in bot mode."""
    ctx: TurnCtx | None = None
    queued = False
    conv, stored, duplicate = await conversations.record_inbound(
        s,
        ente_id=ente_id,
        contact_id=contact_id,
        channel=msg.channel,
        text=msg.text,
        channel_message_id=msg.channel_message_id,
        payload=msg.payload,
        attachments=msg.attachments,
        checked_new=checked_new,
    )
    await lock_conversation(s, conv.id)
    if duplicate:
        queued = await queue.unfinished(s, stored.id)
    elif conv.mode == "bot":
        job = await queue.enqueue(s, ente_id=ente_id, conversation_id=conv.id, message_id=stored.id)
        if job.state == "running":
            ctx = TurnCtx(
                turn_id=job.id,
                ente_id=ente_id,
                conversation_id=conv.id,
                contact_id=contact_id,
                message_id=stored.id,
                channel=msg.channel,
                address=msg.address,
                text=msg.text,
                payload=dict(msg.payload),
                mode=conv.mode,
                created_at=job.created_at,
            )
        else:
            queued = True
    return Accepted(
        message_id=stored.id, conversation_id=conv.id, duplicate=duplicate, mode=conv.mode, ctx=ctx, queued=queued
    )


async def _transcript_request(
    app: Any, s: Any, ente_id: int, contact_id: int, msg: Inbound
) -> tuple[Context | None, Message | None, int | None]:
    """On SMS and Telegram the citizen asks for the transcript in words ("TRASCRIZIONE", optionally followed by an
    e-mail address), as the closing notice says: the latest conversation on that channel goes by e-mail through
    its command, the request and the answer are stored in it (no turn, no new conversation, an open satisfaction
    question stays open). Returns the command's context (published after commit), the stored request and the
    answer's id (sent after commit), or Nones when the message is not such a request. Not called for a retry of a
    message already stored (the usual path answers it as a duplicate)."""
    if msg.channel not in ("sms", "telegram") or msg.attachments:
        return None, None, None
    word = transcript.WORD_RE.match(msg.text or "")
    if word is None:
        return None, None, None
    conv = await s.scalar(
        select(Conversation)
        .where(
            Conversation.ente_id == ente_id, Conversation.contact_id == contact_id, Conversation.channel == msg.channel
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )
    if conv is None or (conv.mode != "closed" and not word["email"]):
        # nothing to send, or the bare word in an open conversation (a "trascrizione" of a marriage certificate is
        # a question for the assistant): answered as any message; the closing notice is where the word is offered
        return None, None, None
    stored = await conversations.record_answer(s, conv=conv, text=msg.text, channel_message_id=msg.channel_message_id)
    cx = Context(principal=Principal.system(ente_id, f"channel:{msg.channel}"), session=s, app=app)
    try:
        sent = await conversation_commands.send_transcript(cx, conversation_id=conv.id, email=word["email"])
        shown = sent.address if sent.given else transcript.masked(sent.address)
        text = transcript.SENT.format(email=shown)
    except ValidationFailed as exc:
        text = transcript.ASK_EMAIL_WORD if exc.fields.get("email") == "required" else transcript.BAD_EMAIL
    except TooManyRequests:
        text = transcript.TOO_SOON
    reply = await conversations.record_outbound(
        s, conv=conv, text=text, author_kind="system", payload={"notice": "transcript"}, allow_closed=True
    )
    return cx, stored, reply.id


async def _rating_answer(
    app: Any, s: Any, ente_id: int, contact_id: int, msg: Inbound
) -> tuple[Context | None, Message | None]:
    """The citizen's answer to the satisfaction question of a conversation closed lately (a score, then a comment),
    through its command, in the accept's transaction. Returns the command's context (published after commit) and
    the stored answer, or ``None`` when the message is not one (it then starts a conversation as usual). Not called
    for a retry of a message already stored."""
    if msg.channel not in conversations.RATED_CHANNELS:
        return None, None
    rating = await conversations.open_rating(s, ente_id=ente_id, contact_id=contact_id, channel=msg.channel)
    if rating is None:
        return None, None
    cx = Context(principal=Principal.system(ente_id, f"channel:{msg.channel}"), session=s, app=app)
    stored = await conversation_commands.answer_rating(
        cx,
        rating_id=rating.id,
        text=msg.text,
        payload=str(msg.payload.get("intent_payload") or ""),
        channel_message_id=msg.channel_message_id,
    )
    return cx, stored


# --- a turn ----------------------------------------------------------------------------------------------------------
async def run_turn(app: Any, t: TurnCtx) -> TurnCtx | None:
    """Answer one message: Rasa's replies, or the holding message and a handoff. Returns the conversation's next turn
    when there is one (taken in the same transaction)."""
    settings = app.ctx.settings
    replies: list[dict[str, Any]] = []
    reason = None
    if t.mode != "bot":
        outcome = "operators"  # handed off after this message arrived: it is the operators' now
    elif (utcnow() - t.created_at).total_seconds() > settings.turn_max_age_seconds:
        outcome, reason = "stale", "stale"  # a crash or an outage kept it waiting: a person answers, not a stale bot
    elif not t.text.strip() and not t.payload.get("intent_payload"):
        # a file without words: nothing for the assistant to understand (a file it refused was already explained)
        outcome = "bot"
        replies = [{"text": FILE_RECEIVED}] if t.payload.get("files") else []
    else:
        await _typing(app, t)
        # the actions trust only what the hub signs: who is talking, in which conversation, for this turn
        metadata = {
            METADATA_KEY: sign(Turn(t.conversation_id, t.contact_id, t.ente_id, t.channel), secret_of(settings))
        }
        try:
            replies = await app.ctx.rasa.ask(
                sender=sender_of(t.conversation_id), text=t.payload.get("intent_payload") or t.text, metadata=metadata
            )
            outcome = "bot" if replies else "holding"
            reason = None if replies else "empty_answer"
            if not replies:
                log.warning(
                    "rasa gave no answer in conversation %s (action server down?): handing off", t.conversation_id
                )
        except RasaUnavailable as exc:
            log.warning("rasa unavailable for conversation %s (%s): handing off", t.conversation_id, exc)
            outcome, reason = "holding", "rasa_unavailable"
    return await uncancellable(_finish_turn(app, t, outcome, reason, replies))


async def _finish_turn(
    app: Any, t: TurnCtx, outcome: str, reason: str | None, replies: list[dict[str, Any]]
) -> TurnCtx | None:
    """One transaction: the replies (already claimed for sending), the handoff if any, the turn done and the next
    one taken. Then the replies go out, in order."""
    out: list[Outgoing] = []
    handed_off = False
    async with transaction(app.ctx.sessionmaker) as s:
        await lock_conversation(s, t.conversation_id)
        conv = await s.get(Conversation, t.conversation_id)
        texts: list[tuple[str, str, dict[str, Any]]] = []
        if conv is not None and conv.mode != "closed":
            if outcome == "bot":
                texts = [
                    ("bot", r.get("text") or "", {"buttons": r["buttons"]} if r.get("buttons") else {}) for r in replies
                ]
            elif reason is not None:
                texts = [("system", HOLDING, {})]
                if conv.mode == "bot":
                    await conversations.handoff(
                        s,
                        ente_id=t.ente_id,
                        conversation_id=t.conversation_id,
                        topic_slug=None,
                        summary=HANDOFF_SUMMARY[reason],
                        context={"reason": reason},
                    )
                    handed_off = True
        if texts:
            assert conv is not None  # replies come only for an open conversation
            # claimed for sending in the transaction that stores them: no second transaction before the send
            stored = await conversations.record_turn_replies(
                s, conv=conv, replies=texts, lease_until=utcnow() + SEND_LEASE
            )
            out = [
                Outgoing(
                    message_id=m.id,
                    ente_id=t.ente_id,
                    conversation_id=t.conversation_id,
                    channel=t.channel,
                    address=t.address,
                    text=m.text,
                    buttons=buttons_from_payload(m.payload),
                    attempts=1,
                    author=m.author_kind,
                )
                for m in stored
            ]
        nxt: TurnCtx | None = await app.ctx.turns.finish(s, t, outcome)
    if handed_off:
        await emit(app, t.ente_id, {"type": "conversation", "id": t.conversation_id, "mode": "waiting", "topic": None})
    for o in out:
        await _send_and_record(app, o)
    return nxt


async def citizen_typing(app: Any, ente_id: int, address: str, channel: str = "web") -> None:
    """The citizen is typing: the operators' workspace shows it in the conversation they hold or that waits for them
    (a hint only: nothing stored, never raises). The assistant's conversations do not need it."""
    try:
        async with app.ctx.read_sessionmaker() as s:
            contact = await contacts.find_by_identity(s, ente_id=ente_id, channel=channel, external_id=address)
            if contact is None:
                return
            conv_id = await s.scalar(
                select(Conversation.id)
                .where(
                    Conversation.ente_id == ente_id,
                    Conversation.contact_id == contact.id,
                    Conversation.channel == channel,
                    Conversation.mode.in_(("waiting", "assigned")),
                )
                .order_by(Conversation.id.desc())
                .limit(1)
            )
        if conv_id is not None:
            await emit(app, ente_id, {"type": "typing", "conversation_id": conv_id})
    except Exception:  # noqa: BLE001 - a hint only
        log.warning("citizen typing hint not published")


OPERATOR_TYPING_EVERY = 2.0  # s: an operator's typing hints passed on to the citizen, at most one per conversation
_operator_typing_at: dict[int, float] = {}


async def operator_typing(app: Any, ente_id: int, conversation_id: int) -> None:
    """An operator is writing a reply: the web chat shows "L'operatore sta scrivendo…", Telegram its own "typing…"
    (sendChatAction); SMS has no such thing. A hint only: nothing stored, never raises, at most one per conversation
    every couple of seconds whatever the console sends."""
    now = time.monotonic()
    if now - _operator_typing_at.get(conversation_id, 0.0) < OPERATOR_TYPING_EVERY:
        return
    _operator_typing_at[conversation_id] = now
    if len(_operator_typing_at) > 10_000:  # forget the old ones
        for cid, at in list(_operator_typing_at.items()):
            if now - at > 60:
                del _operator_typing_at[cid]
    try:
        async with app.ctx.read_sessionmaker() as s:
            conv = await s.get(Conversation, conversation_id)
            if conv is None or conv.ente_id != ente_id or conv.mode != "assigned":
                return
            address = await address_of(s, conv.contact_id, conv.channel)
        if not address:
            return
        if conv.channel == "web":
            await app.ctx.pubsub.publish(f"webchat:{address}", {"type": "typing", "author": "operator"})
        elif conv.channel == "telegram":
            adapter = app.ctx.adapters.get("telegram")
            if adapter is not None and getattr(adapter, "configured", False):
                await adapter.typing(address)
    except Exception:  # noqa: BLE001 - a hint only
        log.warning("operator typing hint not passed on")


async def _typing(app: Any, t: TurnCtx) -> None:
    if t.channel == "web" and t.address:
        try:
            await app.ctx.pubsub.publish(f"webchat:{t.address}", {"type": "typing"})
        except Exception:  # noqa: BLE001 - a hint only; Redis down must not stop the turn
            log.warning("typing indicator not published")


# --- outbound --------------------------------------------------------------------------------------------------------
@dataclass
class Outgoing:
    """A stored reply claimed for sending (status ``sending``, lease in ``next_attempt_at``)."""

    message_id: int
    ente_id: int
    conversation_id: int
    channel: str
    address: str | None
    text: str
    buttons: list[Button]
    attempts: int
    opted_out: bool = False
    parts_sent: list[str] = field(default_factory=list)  # a long SMS cut by a crash: these parts went out
    author: str = "bot"  # bot | operator | system: the widget shows each its own way
    name: str = ""  # the operator's first name (operator replies, "joined" notices)
    notice: str = ""  # joined | transferred | back | closed | rating | rated: who is talking changed
    attachments: list[dict[str, Any]] = field(default_factory=list)  # an operator's files (crm.conversations.files)

    def text_for(self, adapter: Any) -> str:
        """On channels without a look of their own for operators (SMS, Telegram) their name is said in words."""
        if self.author == "operator" and self.name and not getattr(adapter, "shows_authors", False):
            return f"{self.name} dell'URP: {self.text}"
        return self.text


class CrashWindows:
    """How long a reply is sent by the provider but not yet recorded as sent (ms), per channel: a crash exactly then
    is the only way a reply can reach the citizen twice. Last 2,000 sends; shown on /health."""

    def __init__(self) -> None:
        self.samples: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=2000))

    def add(self, channel: str, ms: float) -> None:
        self.samples[channel].append(ms)

    def summary(self) -> dict[str, Any]:
        return {channel: p for channel, values in self.samples.items() if (p := percentiles(values)) is not None}


async def deliver(app: Any, ente_id: int, message_id: int, *, ignore_opt_out: bool = False) -> bool:
    """Send one stored outbound message (an operator's reply, a retry) and record the outcome. Claimed by a
    compare-and-set (pending or failed and due, or sending with a lease run out), so two processes never send it at
    once; ``ignore_opt_out``: the STOP confirmation, the last message an opted-out number receives."""
    now = utcnow()
    async with transaction(app.ctx.sessionmaker) as s:
        m = await s.scalar(select(Message).where(Message.ente_id == ente_id, Message.id == message_id))
        if m is None or m.direction != "out" or m.private or m.delivery_status in ("sent", "delivered", "note"):
            return False
        if m.delivery_status == "sending" and m.next_attempt_at is not None and m.next_attempt_at > now:
            return False  # someone is sending it right now
        if m.delivery_attempts >= MAX_ATTEMPTS:
            # every attempt spent and the last outcome never recorded (the send may well have gone out): the
            # operators see it failed; it is not sent once more at every lease
            m.delivery_status, m.next_attempt_at = "failed", None
            m.delivery_error = m.delivery_error or "outcome of the last send not recorded"
            o = None
        else:
            claimed = await s.execute(
                update(Message)
                .where(
                    Message.id == message_id,
                    Message.delivery_status == m.delivery_status,
                    Message.delivery_attempts == m.delivery_attempts,
                )
                .values(
                    delivery_status="sending",
                    delivery_attempts=Message.delivery_attempts + 1,
                    next_attempt_at=now + SEND_LEASE,
                )
            )
            if rowcount(claimed) != 1:
                return False
            conv = await s.get(Conversation, m.conversation_id)
            contact = await s.get(Contact, conv.contact_id) if conv else None
            parts = list(
                (
                    await s.scalars(
                        select(MessagePart.provider_id).where(MessagePart.message_id == m.id).order_by(MessagePart.part)
                    )
                ).all()
            )
            o = Outgoing(
                message_id=m.id,
                ente_id=ente_id,
                conversation_id=m.conversation_id,
                channel=m.channel,
                address=await address_of(s, conv.contact_id, conv.channel) if conv else None,
                text=m.text,
                buttons=buttons_from_payload(m.payload),
                attempts=m.delivery_attempts + 1,
                author=m.author_kind,
                name=str((m.payload or {}).get("author_name") or ""),
                notice=str((m.payload or {}).get("notice") or ""),
                opted_out=not ignore_opt_out and contact is not None and m.channel == "sms" and _sms_opted_out(contact),
                parts_sent=parts,
                attachments=list(m.attachments or []),
            )
        conv_id = m.conversation_id
    if o is None:
        await emit(
            app, ente_id, {"type": "delivery", "conversation_id": conv_id, "message_id": message_id, "status": "failed"}
        )
        return False
    return await _send_and_record(app, o)


async def _send_and_record(app: Any, o: Outgoing) -> bool:
    """The send and the record of its outcome, uncancellable as one step."""
    return await uncancellable(_send_and_record_now(app, o))


async def _send_and_record_now(app: Any, o: Outgoing) -> bool:
    adapter = app.ctx.adapters.get(o.channel)
    provider_ids: list[str] = list(o.parts_sent)
    error, permanent = None, False
    sent_at: float | None = None
    if o.opted_out:
        error, permanent = "citizen opted out of SMS", True
    elif o.address is None:
        error, permanent = "no address for this channel", True
    elif adapter is None or not adapter.configured:
        error = f"channel {o.channel} not configured"
    else:
        try:
            if getattr(adapter, "multipart", False):

                async def on_part(index: int, provider_id: str, last: bool) -> None:
                    # each part but the last is recorded as it goes: a crash re-sends only the parts not recorded
                    provider_ids.append(provider_id)
                    if not last:
                        started = time.perf_counter()
                        await _record_part(app, o.message_id, index, provider_id)
                        app.ctx.crash_windows.add(o.channel, (time.perf_counter() - started) * 1000)

                await adapter.send(o.address, o.text_for(adapter), o.buttons, skip=len(o.parts_sent), on_part=on_part)
            else:
                who = (
                    {"author": o.author, "name": o.name, "notice": o.notice}
                    if getattr(adapter, "shows_authors", False)
                    else {}
                )
                files = _out_files(app, o)
                result = await adapter.send(
                    o.address, o.text_for(adapter), o.buttons, message_id=o.message_id, files=files, **who
                )
                provider_ids += [result] if isinstance(result, str) else list(result or [])
            sent_at = time.perf_counter()
        except SendFailed as exc:
            error, permanent = str(exc)[:500], exc.permanent
        except Exception as exc:  # noqa: BLE001 - a provider bug must not lose the message; retried
            log.exception("send failed on %s for message %s", o.channel, o.message_id)
            error = type(exc).__name__
    async with transaction(app.ctx.sessionmaker) as s:
        record: dict[str, Any] = {"b_id": o.message_id, "b_provider_id": None}
        if error is None:
            record |= {"b_status": "sent", "b_error": None, "b_next": None}
            if provider_ids:
                record["b_provider_id"] = provider_ids[0]
            if len(provider_ids) > 1:  # a long SMS: every part's SID, for the per-part delivery callbacks
                recorded = len(o.parts_sent) if not getattr(adapter, "multipart", False) else len(provider_ids) - 1
                s.add_all(
                    MessagePart(message_id=o.message_id, part=i, provider_id=pid)
                    for i, pid in enumerate(provider_ids)
                    if i >= recorded
                )
        else:
            retry = not permanent and o.attempts < MAX_ATTEMPTS
            record |= {
                "b_status": "failed",
                "b_error": error,
                "b_next": utcnow() + _backoff(o.attempts) if retry else None,
            }
        await s.execute(_RECORD_SEND, record)
    if sent_at is not None:
        app.ctx.crash_windows.add(o.channel, (time.perf_counter() - sent_at) * 1000)
    await emit(
        app,
        o.ente_id,
        {
            "type": "delivery",
            "conversation_id": o.conversation_id,
            "message_id": o.message_id,
            "status": "sent" if error is None else "failed",
        },
    )
    return error is None


# the outcome of a send, built once (every reply of every turn records one). Only a message still ours: an
# operator's "sent" seen meanwhile (status callback) is not overwritten; the provider's id is kept when none came back
_RECORD_SEND = (
    update(Message)
    .where(Message.id == bindparam("b_id"), Message.delivery_status == "sending")
    .values(
        delivery_status=bindparam("b_status"),
        delivery_error=bindparam("b_error"),
        next_attempt_at=bindparam("b_next"),
        channel_message_id=func.coalesce(
            bindparam("b_provider_id", type_=Message.channel_message_id.type), Message.channel_message_id
        ),
    )
    .execution_options(synchronize_session=False)
)


def _out_files(app: Any, o: Outgoing) -> list[OutFile]:
    """The stored files of an outgoing message, for the adapter (its bytes, the widget's signed link)."""
    from channels.web import file_url

    root = Path(app.ctx.settings.var_dir) / "attachments"
    return [
        OutFile(
            name=str(a.get("name") or "allegato"),
            content_type=str(a.get("content_type") or ""),
            size=int(a.get("size") or 0),
            path=chat_files.path_of(root, str(a["key"])),
            url=file_url(app, o.message_id, i),
        )
        for i, a in chat_files.stored(o.attachments)
    ]


async def _record_part(app: Any, message_id: int, index: int, provider_id: str) -> None:
    async with transaction(app.ctx.sessionmaker) as s:
        s.add(MessagePart(message_id=message_id, part=index, provider_id=provider_id))


def _sms_opted_out(contact: Contact) -> bool:
    return "sms" in (contact.opted_out_channels or [])


async def retry_due(app: Any, limit: int = 50, ente_id: int | None = None) -> int:
    """Scheduler job: send again failed messages whose backoff has expired, pending ones nobody sent, and those whose
    send was cut by a crash (sending, lease run out)."""
    now = utcnow()
    stmt = select(Message.ente_id, Message.id).where(
        Message.direction == "out",
        Message.private.is_(False),
        Message.delivery_status.in_(("failed", "pending", "sending")),
        Message.next_attempt_at.is_not(None),
        Message.next_attempt_at <= now,
    )
    if ente_id is not None:
        stmt = stmt.where(Message.ente_id == ente_id)
    async with app.ctx.read_sessionmaker() as s:
        rows = (await s.execute(stmt.order_by(Message.next_attempt_at).limit(limit))).all()
    sent = 0
    for ente, mid in rows:
        sent += await deliver(app, ente, mid)
    return sent

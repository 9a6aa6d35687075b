"""Conversation lifecycle. The channel hub stores every inbound/outbound message here first, then routes it.

Modes: ``bot`` (Rasa answers) -> ``waiting`` (handed off, in a topic queue) -> ``assigned`` (an operator holds it)
-> ``closed``. The citizen's next message after closing opens a new bot conversation.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.contacts import service as contacts
from crm.contacts.models import Contact
from crm.conversations.models import Conversation, ConversationRating, Message
from crm.conversations.schemas import ConversationOut, MessageOut
from crm.core.errors import Conflict, NotFound, ValidationFailed
from crm.core.workhours import describe_it, is_open, next_opening
from crm.db import utcnow
from crm.entes import service as entes
from crm.offices import service as offices
from crm.offices.models import Office
from crm.operators.models import Operator

ALLOWED = {
    "handoff": {"bot", "assigned"},
    "take": {"waiting"},
    "return_to_bot": {"waiting", "assigned"},
    "close": {"bot", "waiting", "assigned"},
    "transfer": {"waiting", "assigned"},
}


def _iso(d: Any) -> str | None:
    return d.isoformat() if d else None


def to_out(c: Conversation, topic_slug: str | None = None) -> ConversationOut:
    waiting = None
    if c.mode == "waiting" and c.handoff_at:
        waiting = int((utcnow() - c.handoff_at).total_seconds())
    return ConversationOut(
        id=c.id,
        contact_id=c.contact_id,
        channel=c.channel,
        mode=c.mode,
        assignee_id=c.assignee_id,
        topic_id=c.topic_id,
        topic=topic_slug,
        handoff_summary=c.handoff_summary,
        handoff_context=c.handoff_context or {},
        created_at=c.created_at.isoformat(),
        last_message_at=c.last_message_at.isoformat(),
        handoff_at=_iso(c.handoff_at),
        taken_at=_iso(c.taken_at),
        first_response_at=_iso(c.first_response_at),
        closed_at=_iso(c.closed_at),
        waiting_seconds=waiting,
    )


def message_out(m: Message) -> MessageOut:
    return MessageOut(
        id=m.id,
        conversation_id=m.conversation_id,
        channel=m.channel,
        direction=m.direction,  # type: ignore[arg-type]
        author_kind=m.author_kind,
        author_operator_id=m.author_operator_id,
        text=m.text,
        attachments=m.attachments or [],
        payload=m.payload or {},
        private=m.private,
        channel_message_id=m.channel_message_id,
        delivery_status=m.delivery_status,
        created_at=m.created_at.isoformat(),
    )


async def get(session: AsyncSession, *, ente_id: int, conversation_id: int, lock: bool = False) -> Conversation:
    stmt = select(Conversation).where(Conversation.ente_id == ente_id, Conversation.id == conversation_id)
    if lock:
        stmt = stmt.with_for_update()
    conv = await session.scalar(stmt)
    if conv is None:
        raise NotFound("conversation not found")
    return conv


# the accept's reads, built once: it runs them for every message, and building a statement cost as much CPU as
# running it (180 against 360 µs a read on SQLite)
_OPEN_CONVERSATION = (
    select(Conversation)
    .where(
        Conversation.ente_id == bindparam("ente_id"),
        Conversation.contact_id == bindparam("contact_id"),
        Conversation.channel == bindparam("channel"),
        Conversation.mode != "closed",
    )
    .order_by(Conversation.id.desc())
    .limit(1)
)
_BY_CHANNEL_MESSAGE_ID = select(Message).where(
    Message.ente_id == bindparam("ente_id"),
    Message.channel == bindparam("channel"),
    Message.channel_message_id == bindparam("channel_message_id"),
)


async def open_conversation_for(session: AsyncSession, *, ente_id: int, contact_id: int, channel: str) -> Conversation:
    """The contact's open conversation on this channel, or a new one in bot mode."""
    conv = await session.scalar(_OPEN_CONVERSATION, {"ente_id": ente_id, "contact_id": contact_id, "channel": channel})
    if conv is None:
        conv = Conversation(ente_id=ente_id, contact_id=contact_id, channel=channel, mode="bot")
        session.add(conv)
        await session.flush()
    return conv


async def find_by_channel_message_id(
    session: AsyncSession, *, ente_id: int, channel: str, channel_message_id: str
) -> Message | None:
    return await session.scalar(
        _BY_CHANNEL_MESSAGE_ID, {"ente_id": ente_id, "channel": channel, "channel_message_id": channel_message_id}
    )


async def record_inbound(
    session: AsyncSession,
    *,
    ente_id: int,
    contact_id: int,
    channel: str,
    text: str,
    channel_message_id: str | None,
    attachments: list[dict[str, Any]] | None = None,
    payload: dict[str, Any] | None = None,
    checked_new: bool = False,
) -> tuple[Conversation, Message, bool]:
    """Store a citizen's message (idempotent on the channel's message id). ``checked_new``: the caller looked the
    channel's message id up in this transaction and found nothing (the hub's accept, which needs it before).

    Returns (conversation, message, duplicate)."""
    if channel_message_id and not checked_new:
        existing = await find_by_channel_message_id(
            session, ente_id=ente_id, channel=channel, channel_message_id=channel_message_id
        )
        if existing is not None:
            return await get(session, ente_id=ente_id, conversation_id=existing.conversation_id), existing, True
    conv = await open_conversation_for(session, ente_id=ente_id, contact_id=contact_id, channel=channel)
    msg = Message(
        ente_id=ente_id,
        conversation_id=conv.id,
        channel=channel,
        direction="in",
        author_kind="citizen",
        text=text,
        attachments=attachments or [],
        payload=payload or {},
        channel_message_id=channel_message_id,
        delivery_status="received",
        # files still to fetch from the provider (channels.media): due now
        next_attempt_at=utcnow() if any(isinstance(a, dict) and a.get("pending") for a in attachments or []) else None,
    )
    if checked_new and session.get_bind().dialect.name == "sqlite":
        # SQLite cannot lose that race: a write transaction that read "no such message" either still holds the
        # newest snapshot when it writes, or fails (SQLITE_BUSY_SNAPSHOT); no savepoint for a duplicate that cannot be
        session.add(msg)
        await session.flush()
    else:
        try:
            async with session.begin_nested():
                session.add(msg)
                await session.flush()
        except IntegrityError:
            # lost a race with a concurrent retry of the same webhook: the other copy is the message
            assert channel_message_id is not None
            existing = await find_by_channel_message_id(
                session, ente_id=ente_id, channel=channel, channel_message_id=channel_message_id
            )
            assert existing is not None
            return await get(session, ente_id=ente_id, conversation_id=existing.conversation_id), existing, True
    conv.last_message_at = msg.created_at
    return conv, msg, False


async def record_outbound(
    session: AsyncSession,
    *,
    conv: Conversation,
    text: str,
    author_kind: str,
    operator_id: int | None = None,
    payload: dict[str, Any] | None = None,
    private: bool = False,
    allow_closed: bool = False,
) -> Message:
    """Store a reply before it is sent; the hub sends ``pending`` messages and records the outcome.
    ``allow_closed``: the system's last words on a closed conversation (the close notice, the satisfaction question
    and its thanks); nobody else writes to a closed conversation."""
    if conv.mode == "closed" and not private and not allow_closed:
        raise Conflict("conversation is closed")
    msg = Message(
        ente_id=conv.ente_id,
        conversation_id=conv.id,
        channel=conv.channel,
        direction="out",
        author_kind=author_kind,
        author_operator_id=operator_id,
        text=text,
        payload=payload or {},
        private=private,
        delivery_status="note" if private else "pending",
        # if the process dies before sending, the hub's retry job picks the message up after this
        next_attempt_at=None if private else utcnow() + timedelta(seconds=30),
    )
    session.add(msg)
    await session.flush()
    if not private:
        conv.last_message_at = msg.created_at
        if author_kind == "operator" and conv.first_response_at is None:
            conv.first_response_at = msg.created_at
    return msg


async def record_turn_replies(
    session: AsyncSession, *, conv: Conversation, replies: list[tuple[str, str, dict[str, Any]]], lease_until: datetime
) -> list[Message]:
    """The replies of one bot turn (author ``bot`` or ``system``, text, payload), stored already claimed for
    sending (``sending``, first attempt, lease until ``lease_until``): the hub sends them right after commit. One
    INSERT for all of them and the conversation touched once: the replies of a turn are a single step."""
    if conv.mode == "closed":
        raise Conflict("conversation is closed")
    if not replies:
        return []
    rows = [
        {
            "ente_id": conv.ente_id,
            "conversation_id": conv.id,
            "channel": conv.channel,
            "direction": "out",
            "author_kind": author,
            "text": text,
            "payload": payload,
            "private": False,
            "delivery_status": "sending",
            "delivery_attempts": 1,
            "next_attempt_at": lease_until,
        }
        for author, text, payload in replies
    ]
    # one multi-row INSERT; the database numbers the rows in the order given (SQLite and PostgreSQL alike), so the
    # ids give the order back (asking SQLAlchemy to sort by parameters would cost one INSERT a row here)
    msgs = sorted((await session.scalars(insert(Message).returning(Message), rows)).all(), key=lambda m: m.id)
    conv.last_message_at = msgs[-1].created_at
    return msgs


def _require(conv: Conversation, action: str) -> None:
    if conv.mode not in ALLOWED[action]:
        raise Conflict(f"cannot {action.replace('_', ' ')} a conversation in mode {conv.mode!r}")


async def handoff(
    session: AsyncSession,
    *,
    ente_id: int,
    conversation_id: int,
    topic_slug: str | None,
    summary: str,
    context: dict[str, Any],
) -> Conversation:
    conv = await get(session, ente_id=ente_id, conversation_id=conversation_id, lock=True)
    if conv.mode == "waiting":
        return conv  # idempotent: the bot may retry
    _require(conv, "handoff")
    if topic_slug:
        conv.topic_id = (await offices.get_topic_by_slug(session, ente_id=ente_id, slug=topic_slug)).id
    conv.mode = "waiting"
    conv.assignee_id = None
    conv.handoff_summary = summary
    conv.handoff_context = context
    conv.handoff_at = utcnow()
    conv.sla_escalated_at = None  # a new first-response clock (crm.conversations.sla)
    await session.flush()
    return conv


async def take(session: AsyncSession, *, ente_id: int, conversation_id: int, operator_id: int) -> Conversation:
    conv = await get(session, ente_id=ente_id, conversation_id=conversation_id, lock=True)
    if conv.mode == "assigned" and conv.assignee_id == operator_id:
        return conv
    _require(conv, "take")
    conv.mode = "assigned"
    conv.assignee_id = operator_id
    conv.taken_at = conv.taken_at or utcnow()
    await session.flush()
    return conv


async def transfer(
    session: AsyncSession, *, ente_id: int, conversation_id: int, topic_slug: str | None, operator_id: int | None
) -> Conversation:
    if not topic_slug and operator_id is None:
        raise ValidationFailed("give a topic or an operator_id", fields={"topic": "required without operator_id"})
    conv = await get(session, ente_id=ente_id, conversation_id=conversation_id, lock=True)
    _require(conv, "transfer")
    if topic_slug:
        conv.topic_id = (await offices.get_topic_by_slug(session, ente_id=ente_id, slug=topic_slug)).id
    if operator_id is not None:
        op = await session.scalar(select(Operator).where(Operator.ente_id == ente_id, Operator.id == operator_id))
        if op is None or not op.active:
            raise ValidationFailed("unknown operator", fields={"operator_id": "unknown or inactive"})
        conv.mode, conv.assignee_id = "assigned", op.id
    else:
        conv.mode, conv.assignee_id = "waiting", None
    await session.flush()
    return conv


async def return_to_bot(session: AsyncSession, *, ente_id: int, conversation_id: int) -> Conversation:
    conv = await get(session, ente_id=ente_id, conversation_id=conversation_id, lock=True)
    _require(conv, "return_to_bot")
    conv.mode, conv.assignee_id = "bot", None
    await session.flush()
    return conv


async def close(session: AsyncSession, *, ente_id: int, conversation_id: int) -> Conversation:
    conv = await get(session, ente_id=ente_id, conversation_id=conversation_id, lock=True)
    if conv.mode == "closed":
        return conv
    _require(conv, "close")
    conv.mode = "closed"
    conv.closed_at = utcnow()
    await session.flush()
    return conv


def list_stmt(
    *,
    ente_id: int,
    mode: str | None = None,
    topic_id: int | None = None,
    assignee_id: int | None = None,
    contact_id: int | None = None,
    channel: str | None = None,
) -> Select[tuple[Conversation]]:
    stmt = select(Conversation).where(Conversation.ente_id == ente_id)
    if mode == "open":
        stmt = stmt.where(Conversation.mode != "closed")
    elif mode:
        stmt = stmt.where(Conversation.mode == mode)
    if topic_id is not None:
        stmt = stmt.where(Conversation.topic_id == topic_id)
    if assignee_id is not None:
        stmt = stmt.where(Conversation.assignee_id == assignee_id)
    if contact_id is not None:
        stmt = stmt.where(Conversation.contact_id == contact_id)
    if channel:
        stmt = stmt.where(Conversation.channel == channel)
    return stmt


WORKSPACE_VIEWS = ("waiting", "mine", "unassigned", "all")


def _like(q: str) -> str:
    return "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def workspace_stmt(
    *,
    ente_id: int,
    view: str,
    operator_id: int | None,
    channel: str | None = None,
    topic_id: int | None = None,
    q: str | None = None,
) -> Select[tuple[Conversation]]:
    """The operators' conversation list. Without a search: open conversations that reached the operators (a session
    the assistant alone handled is not the operators' work and would bury theirs), narrowed by the view; a search
    (the contact's name, phone or fiscal code, or a message's text) finds any conversation, closed or bot-only."""
    stmt = select(Conversation).where(Conversation.ente_id == ente_id)
    q = (q or "").strip()[:100]
    if q:
        people = contacts.search_stmt(ente_id=ente_id, q=q).with_only_columns(Contact.id)
        said = select(Message.conversation_id).where(
            Message.ente_id == ente_id, func.lower(Message.text).like(_like(q), escape="\\")
        )
        stmt = stmt.where(or_(Conversation.contact_id.in_(people), Conversation.id.in_(said)))
    else:
        stmt = stmt.where(
            Conversation.mode != "closed", or_(Conversation.mode != "bot", Conversation.handoff_at.is_not(None))
        )
        if view == "waiting":
            stmt = stmt.where(Conversation.mode == "waiting")
        elif view == "mine":
            stmt = stmt.where(Conversation.mode == "assigned", Conversation.assignee_id == operator_id)
        elif view == "unassigned":
            stmt = stmt.where(Conversation.assignee_id.is_(None))
    if channel:
        stmt = stmt.where(Conversation.channel == channel)
    if topic_id is not None:
        stmt = stmt.where(Conversation.topic_id == topic_id)
    return stmt.order_by(
        Conversation.handoff_at.asc().nulls_last()
        if view == "waiting" and not q
        else Conversation.last_message_at.desc(),
        Conversation.id.desc(),
    )


async def unanswered(session: AsyncSession, *, ente_id: int, conversation_ids: list[int]) -> dict[int, int]:
    """Per conversation, the citizen's messages since the last message that went out to them (the list's count of
    what still needs a reply)."""
    if not conversation_ids:
        return {}
    last_out = (
        select(Message.conversation_id, func.max(Message.id).label("last"))
        .where(
            Message.ente_id == ente_id,
            Message.conversation_id.in_(conversation_ids),
            Message.direction == "out",
            Message.private.is_(False),
        )
        .group_by(Message.conversation_id)
        .subquery()
    )
    rows = await session.execute(
        select(Message.conversation_id, func.count())
        .outerjoin(last_out, last_out.c.conversation_id == Message.conversation_id)
        .where(
            Message.ente_id == ente_id,
            Message.conversation_id.in_(conversation_ids),
            Message.direction == "in",
            Message.id > func.coalesce(last_out.c.last, 0),
        )
        .group_by(Message.conversation_id)
    )
    return {cid: int(n) for cid, n in rows.all()}


async def get_file(
    session: AsyncSession, *, ente_id: int, message_id: int, index: int
) -> tuple[Message, dict[str, Any]]:
    """A stored file of a message of this ente and its description (404 for anything else: a refused or erased file
    included)."""
    from crm.conversations.files import stored

    m = await session.get(Message, message_id)
    found = dict(stored(m.attachments)).get(index) if m is not None and m.ente_id == ente_id else None
    if m is None or found is None:
        raise NotFound("file not found")
    return m, found


async def messages(
    session: AsyncSession, *, ente_id: int, conversation_id: int, include_private: bool, after: int = 0
) -> list[Message]:
    stmt = select(Message).where(Message.ente_id == ente_id, Message.conversation_id == conversation_id)
    if after:
        stmt = stmt.where(Message.id > after)
    if not include_private:
        stmt = stmt.where(Message.private.is_(False))
    return list((await session.scalars(stmt.order_by(Message.id))).all())


@dataclass(frozen=True)
class DeskStatus:
    open: bool
    next_opening: datetime | None  # local time of the ente; None only for an ente without office hours
    waiting: int  # conversations handed off and not yet taken
    typical_wait_minutes: int | None  # median handoff -> taken of recent conversations; None without history
    office_hours: str  # in Italian, as a citizen reads them
    urp: dict[str, str | None]  # the URP office's name, phone, e-mail and address: what the assistant tells citizens


URP_OFFICE_CODE = "URP"  # the office whose phone, e-mail and address the assistant gives citizens
TYPICAL_WAIT_SAMPLE = 50
TYPICAL_WAIT_DAYS = 14


async def desk_status(session: AsyncSession, *, ente_id: int, now: datetime | None = None) -> DeskStatus:
    """What the assistant tells a citizen who asks for a person: whether the URP is open (the ente's office hours,
    Italian holidays and the patron day), how many are waiting, and how long the wait has been lately."""
    now = now or utcnow()
    oh = entes.office_hours_of(await entes.get(session, ente_id))
    waiting = (
        await session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.ente_id == ente_id, Conversation.mode == "waiting")
        )
        or 0
    )
    rows = (
        await session.execute(
            select(Conversation.handoff_at, Conversation.taken_at)
            .where(
                Conversation.ente_id == ente_id,
                Conversation.taken_at.is_not(None),
                Conversation.handoff_at.is_not(None),
                Conversation.taken_at >= now - timedelta(days=TYPICAL_WAIT_DAYS),
            )
            .order_by(Conversation.taken_at.desc())
            .limit(TYPICAL_WAIT_SAMPLE)
        )
    ).all()
    waits = [(taken - handed).total_seconds() / 60 for handed, taken in rows if taken >= handed]
    typical = max(1, round(statistics.median(waits))) if waits else None
    urp = await session.scalar(select(Office).where(Office.ente_id == ente_id, Office.code == URP_OFFICE_CODE))
    return DeskStatus(
        open=is_open(now, oh),
        next_opening=next_opening(now, oh),
        waiting=int(waiting),
        typical_wait_minutes=typical,
        office_hours=describe_it(oh.intervals),
        urp={
            "name": urp.name if urp else None,
            "phone": urp.phone if urp else None,
            "email": urp.email if urp else None,
            "address": urp.address if urp else None,
        },
    )


# --- the citizen's satisfaction (CSAT) --------------------------------------------------------------------------------
RATING_WINDOW = timedelta(hours=24)  # a score sent later than this after the close starts a new conversation
COMMENT_WINDOW = timedelta(hours=2)  # the one optional comment follows the score within this
RATED_CHANNELS = ("web", "sms", "telegram")  # where the question is asked (and the notices sent)
SCORE_PAYLOAD = "csat:"  # the quick replies' payload: "csat:4"


def first_name(op: Operator | None) -> str:
    """How the citizen reads an operator: the first name (the username when no name was entered)."""
    if op is None:
        return "Un operatore"
    return (op.full_name or "").split(" ")[0].strip() or op.username


def parse_score(text: str, payload: str = "") -> int | None:
    """1-5 from a quick reply ("csat:4") or a message that is just the number ("4", " 5 ", "4!")."""
    if payload.startswith(SCORE_PAYLOAD) and payload[len(SCORE_PAYLOAD) :] in ("1", "2", "3", "4", "5"):
        return int(payload[len(SCORE_PAYLOAD) :])
    t = text.strip().rstrip(".!").strip()
    return int(t) if t in ("1", "2", "3", "4", "5") else None


async def ask_rating(session: AsyncSession, conv: Conversation, *, operator_id: int | None) -> ConversationRating:
    """The rating row of a conversation being closed after an operator handled it (one per conversation)."""
    row = await session.scalar(select(ConversationRating).where(ConversationRating.conversation_id == conv.id))
    if row is None:
        row = ConversationRating(
            ente_id=conv.ente_id,
            conversation_id=conv.id,
            operator_id=operator_id,
            topic_id=conv.topic_id,
            channel=conv.channel,
        )
        session.add(row)
        await session.flush()
    return row


_OPEN_RATING = (  # built once: the accept asks it for every message on a rated channel
    select(ConversationRating)
    .join(Conversation, Conversation.id == ConversationRating.conversation_id)
    .where(
        ConversationRating.ente_id == bindparam("ente_id"),
        Conversation.contact_id == bindparam("contact_id"),
        ConversationRating.channel == bindparam("channel"),
        ConversationRating.state.in_(("asked", "comment")),
        ConversationRating.asked_at >= bindparam("since"),
    )
    .order_by(ConversationRating.id.desc())
    .limit(1)
)


async def open_rating(
    session: AsyncSession, *, ente_id: int, contact_id: int, channel: str, now: datetime | None = None
) -> ConversationRating | None:
    """The question this citizen may be answering on this channel: asked (or waiting for its comment) recently."""
    since = (now or utcnow()) - RATING_WINDOW
    return await session.scalar(
        _OPEN_RATING, {"ente_id": ente_id, "contact_id": contact_id, "channel": channel, "since": since}
    )


async def record_answer(
    session: AsyncSession,
    *,
    conv: Conversation,
    text: str,
    channel_message_id: str | None,
    payload: dict[str, Any] | None = None,
) -> Message:
    """A citizen's answer to the satisfaction question, stored in the (closed) conversation it rates."""
    msg = Message(
        ente_id=conv.ente_id,
        conversation_id=conv.id,
        channel=conv.channel,
        direction="in",
        author_kind="citizen",
        text=text,
        payload=payload or {},
        channel_message_id=channel_message_id,
        delivery_status="received",
    )
    session.add(msg)
    await session.flush()
    return msg

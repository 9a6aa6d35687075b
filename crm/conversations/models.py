from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.db import Base, EnteMixin, IdMixin, TimestampMixin, utcnow

MODES = ("bot", "waiting", "assigned", "closed")


class Conversation(IdMixin, EnteMixin, TimestampMixin, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_queue", "ente_id", "mode", "topic_id", "assignee_id"),
        Index("ix_conversations_contact_open", "ente_id", "contact_id", "channel", "mode"),
    )

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    mode: Mapped[str] = mapped_column(String(20), default="bot")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"), default=None)
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"), default=None)
    handoff_summary: Mapped[str] = mapped_column(Text, default="")
    handoff_context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    handoff_at: Mapped[datetime | None] = mapped_column(default=None)
    taken_at: Mapped[datetime | None] = mapped_column(default=None)
    first_response_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    # when the first-response SLA ran out without a reply and the supervisors were told (once per handoff)
    sla_escalated_at: Mapped[datetime | None] = mapped_column(default=None)
    anonymised_at: Mapped[datetime | None] = mapped_column(default=None)  # by erasure or retention (crm.contacts)

    messages: Mapped[list[Message]] = relationship(back_populates="conversation", order_by="Message.id")


class Message(IdMixin, EnteMixin, Base):
    __tablename__ = "messages"
    __table_args__ = (
        # a retried webhook (same MessageSid / update_id / client id) is stored once
        UniqueConstraint("ente_id", "channel", "channel_message_id"),
    )

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    author_kind: Mapped[str] = mapped_column(String(10))  # citizen | bot | operator | system
    author_operator_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL"), default=None
    )
    text: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # e.g. {"buttons": [{title, payload}]}
    private: Mapped[bool] = mapped_column(Boolean, default=False)  # internal note, never sent to the citizen
    channel_message_id: Mapped[str | None] = mapped_column(String(200), default=None)
    delivery_status: Mapped[str] = mapped_column(
        String(12), default="received"
    )  # received|pending|sent|delivered|failed
    delivery_error: Mapped[str | None] = mapped_column(String(500), default=None)
    delivery_attempts: Mapped[int] = mapped_column(default=0)
    # outbound: the next send attempt; inbound: the next download attempt of its pending files (channels.media),
    # delivery_attempts counting them
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class MessagePart(IdMixin, Base):
    """One provider message of a stored outbound message. A long SMS goes out in several parts, each with its own
    SID, and Twilio reports delivery per part: the first SID is the message's ``channel_message_id``, every SID is
    here (joined into one column they overflowed it past five parts)."""

    __tablename__ = "message_parts"
    __table_args__ = (UniqueConstraint("message_id", "part"),)

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    part: Mapped[int] = mapped_column()  # 0, 1, 2... in the order sent
    provider_id: Mapped[str] = mapped_column(String(200), index=True)


class ConversationRating(IdMixin, EnteMixin, Base):
    """The citizen's satisfaction with a conversation an operator handled (CSAT): asked when it is closed, answered
    with a score from 1 to 5 and then, optionally, one comment. The operator and the topic are those of the close,
    so the dashboard can group by them even after a later transfer or erasure of the operator."""

    __tablename__ = "conversation_ratings"

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), unique=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"), default=None)
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"), default=None)
    channel: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(12), default="asked")  # asked | comment | done | skipped
    score: Mapped[int | None] = mapped_column(default=None)
    comment: Mapped[str] = mapped_column(Text, default="")
    asked_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)


class ConversationRead(IdMixin, EnteMixin, Base):
    """How far each operator has read a conversation: the workspace list counts, per operator, the citizen's
    messages after it (a conversation opened is read up to its last message)."""

    __tablename__ = "conversation_reads"
    __table_args__ = (UniqueConstraint("conversation_id", "operator_id"),)

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"), index=True)
    last_message_id: Mapped[int] = mapped_column(default=0)
    read_at: Mapped[datetime] = mapped_column(default=utcnow)

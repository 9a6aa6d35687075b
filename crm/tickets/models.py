from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.db import Base, EnteMixin, IdMixin, TimestampMixin, utcnow

KINDS = ("information", "report", "complaint", "other")
PRIORITIES = ("bassa", "media", "alta")
STATUSES = ("new", "in_charge", "waiting_citizen", "resolved", "closed", "rejected")
OPEN_STATUSES = ("new", "in_charge", "waiting_citizen")


class Ticket(IdMixin, EnteMixin, TimestampMixin, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("ente_id", "code"),
        Index("ix_tickets_board", "ente_id", "status", "priority", "assignee_id"),
    )

    code: Mapped[str] = mapped_column(String(20))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"), default=None)
    channel: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(10), default="media")
    status: Mapped[str] = mapped_column(String(20), default="new")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"), default=None)
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), default=None
    )
    created_by_kind: Mapped[str] = mapped_column(String(20))  # citizen | bot | operator
    created_by_operator_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL"), default=None
    )
    on_behalf: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[datetime] = mapped_column()  # SLA: take in charge by then (working hours)
    taken_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)

    events: Mapped[list[TicketEvent]] = relationship(back_populates="ticket", order_by="TicketEvent.id")


class TicketEvent(IdMixin, EnteMixin, Base):
    """History line: status change, assignment, priority change, internal note."""

    __tablename__ = "ticket_events"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"), default=None)
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))  # created | status | assigned | priority | note
    from_value: Mapped[str | None] = mapped_column(String(50), default=None)
    to_value: Mapped[str | None] = mapped_column(String(50), default=None)
    note: Mapped[str] = mapped_column(Text, default="")

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class RequestFileMixin:
    """The columns of a file a request carries, whoever attached it (the phone desk here, the citizen's segnalazione
    in crm/sportello): checked like an istanza's attachment, the bytes outside the database (``storage_key``)."""

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))


class TicketFile(RequestFileMixin, IdMixin, EnteMixin, Base):
    """A file the phone desk attached for the caller (a photo, a PDF), under the attachments store."""

    __tablename__ = "ticket_files"

    uploaded_by_operator_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL"), default=None
    )
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, EnteMixin, IdMixin, TimestampMixin, utcnow

STATUSES = (
    "submitted",
    "protocolled",
    "in_charge",
    "integration_requested",
    "integrated",
    "accepted",
    "rejected",
    "withdrawn",
)


class InstanceType(IdMixin, EnteMixin, TimestampMixin, Base):
    __tablename__ = "ist_types"
    __table_args__ = (UniqueConstraint("ente_id", "slug"),)

    slug: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id", ondelete="SET NULL"), default=None)
    topic: Mapped[str] = mapped_column(String(64), default="")
    form_schema: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    required_attachments: Mapped[list[str]] = mapped_column(JSON, default=list)
    verified_identity_required: Mapped[bool] = mapped_column(Boolean, default=False)
    deadline_days: Mapped[int] = mapped_column(Integer, default=30)  # general rule of L. 241/1990
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ReferenceItem(IdMixin, EnteMixin, Base):
    """Entries of reference lists used by forms (e.g. the albo of associations), managed by admins."""

    __tablename__ = "ist_reference_items"
    __table_args__ = (UniqueConstraint("ente_id", "list_slug", "value"),)

    list_slug: Mapped[str] = mapped_column(String(80))
    value: Mapped[str] = mapped_column(String(120))
    label: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Instance(IdMixin, EnteMixin, TimestampMixin, Base):
    __tablename__ = "ist_instances"
    __table_args__ = (
        UniqueConstraint("ente_id", "code"),
        # a protocol number is issued once per ente and year
        UniqueConstraint("ente_id", "protocol_number"),
        Index("ix_ist_instances_queue", "ente_id", "status", "type_id"),
    )

    code: Mapped[str] = mapped_column(String(12))
    type_id: Mapped[int] = mapped_column(ForeignKey("ist_types.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(24), default="submitted")
    protocol_number: Mapped[str | None] = mapped_column(String(20), default=None)
    protocolled_at: Mapped[datetime | None] = mapped_column(default=None)
    deadline_at: Mapped[datetime | None] = mapped_column(default=None)
    paused_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_kind: Mapped[str] = mapped_column(String(20))
    created_by_operator_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL"), default=None
    )
    on_behalf: Mapped[bool] = mapped_column(Boolean, default=False)
    channel: Mapped[str] = mapped_column(String(20), default="web")


class InstanceEvent(IdMixin, EnteMixin, Base):
    __tablename__ = "ist_events"

    instance_id: Mapped[int] = mapped_column(ForeignKey("ist_instances.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_name: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(24), default=None)
    to_status: Mapped[str] = mapped_column(String(24))
    note: Mapped[str] = mapped_column(Text, default="")


class ProtocolCounter(Base):
    """Last number issued per ente and year; incremented inside the istanza's own transaction (gapless)."""

    __tablename__ = "ist_protocol_counters"

    ente_id: Mapped[int] = mapped_column(ForeignKey("entes.id", ondelete="CASCADE"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class ProtocolOutbox(IdMixin, EnteMixin, Base):
    """Registration requests for an external protocol system, retried with backoff until it answers."""

    __tablename__ = "ist_protocol_outbox"

    instance_id: Mapped[int] = mapped_column(ForeignKey("ist_instances.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)


class Attachment(IdMixin, EnteMixin, Base):
    __tablename__ = "ist_attachments"

    instance_id: Mapped[int] = mapped_column(ForeignKey("ist_instances.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(80), default="")
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

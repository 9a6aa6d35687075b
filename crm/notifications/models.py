from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, EnteMixin, IdMixin, utcnow


class Notification(IdMixin, EnteMixin, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("ente_id", "dedupe_key"),  # the same event never queues twice
        Index("ix_notifications_due", "status", "next_attempt_at"),
    )

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(60))  # booking.confirmed, instance.protocolled, ...
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text)
    # one file sent with the message (e-mail only: the transcript PDF); kept with the row, erased with its text
    attachment_name: Mapped[str | None] = mapped_column(String(120), default=None)
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending | sending | sent | failed | skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    provider_id: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)

"""What the sportello digitale keeps of its own: experience ratings, drafts of istanze, and the place and photos of
a segnalazione (the segnalazione itself is a request in ``crm/tickets``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, EnteMixin, IdMixin, TimestampMixin, utcnow
from crm.tickets.models import RequestFileMixin


class Rating(IdMixin, EnteMixin, Base):
    """One answer to "Quanto sono chiare le informazioni su questa pagina?" (or, at the end of a service, "Quanto è
    stato facile ...?"): 1-5 stars, the follow-up choices and an optional short comment (criteria C.SI.2.5/2.6)."""

    __tablename__ = "sp_ratings"
    __table_args__ = (Index("ix_sp_ratings_ente_at", "ente_id", "created_at"),)

    page: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(40), default="")  # appointment-booking, report-inefficiency, ...
    stars: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    comment: Mapped[str] = mapped_column(String(200), default="")
    signed_in: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Draft(IdMixin, EnteMixin, TimestampMixin, Base):
    """An istanza being filled in: saved at every step, resumed from any device, deleted at submission."""

    __tablename__ = "sp_drafts"
    __table_args__ = (UniqueConstraint("ente_id", "contact_id", "type_slug"),)

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    type_slug: Mapped[str] = mapped_column(String(80))
    step: Mapped[int] = mapped_column(Integer, default=1)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ReportPlace(IdMixin, EnteMixin, Base):
    """Where a segnalazione is: the address the citizen wrote and, when they used the map, the point."""

    __tablename__ = "sp_report_places"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    category: Mapped[str] = mapped_column(String(60))
    address: Mapped[str] = mapped_column(String(300))
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)


class ReportFile(RequestFileMixin, IdMixin, EnteMixin, Base):
    """A photo or document the citizen attached to a segnalazione (content-addressed store)."""

    __tablename__ = "sp_report_files"

    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class BookingDraft(IdMixin, EnteMixin, Base):
    """A booking in progress between its first step and its confirmation: the service and the reason the citizen
        typed, kept here so that free text never travels in a URL (links are logged, bookmarked, sent as Referer). The
        link carries a random token; the row also names the browser (a hash of its ``urp_sp`` id), so a forwarded link
        shows nothing to anyone else. Kept after the booking is made (a double click on "Conferma" finds it again, and
    the booking's idempotency key answers with the same booking); gone after ``BOOKING_DRAFT_TTL``."""

    __tablename__ = "sp_booking_drafts"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    service_slug: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(String(500), default="")
    from_page: Mapped[bool] = mapped_column(default=False)  # came from a service page: its office only
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)

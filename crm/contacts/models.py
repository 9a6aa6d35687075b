from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.db import Base, EnteMixin, IdMixin, TimestampMixin, utcnow

CHANNELS = ("web", "sms", "telegram", "email", "phone")


class Contact(IdMixin, EnteMixin, TimestampMixin, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        # one contact per fiscal code and ente; NULLs (unknown) are allowed many times on both backends
        UniqueConstraint("ente_id", "fiscal_code"),
        Index("ix_contacts_name", "ente_id", "last_name", "first_name"),
    )

    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    fiscal_code: Mapped[str | None] = mapped_column(String(16), default=None)
    preferred_channel: Mapped[str | None] = mapped_column(String(20), default=None)
    consent_privacy: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_notifications: Mapped[bool] = mapped_column(Boolean, default=True)
    verified_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str] = mapped_column(String(2000), default="")
    opted_out_channels: Mapped[list[str]] = mapped_column(JSON, default=list)  # e.g. ["sms"] after STOP
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), default=None)
    anonymised_at: Mapped[datetime | None] = mapped_column(default=None)

    phones: Mapped[list[ContactPhone]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", lazy="selectin", order_by="ContactPhone.id"
    )
    emails: Mapped[list[ContactEmail]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", lazy="selectin", order_by="ContactEmail.id"
    )
    identities: Mapped[list[ContactIdentity]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", lazy="selectin", order_by="ContactIdentity.id"
    )

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or f"Contatto #{self.id}"


class ContactPhone(IdMixin, EnteMixin, Base):
    __tablename__ = "contact_phones"
    __table_args__ = (UniqueConstraint("contact_id", "e164"), Index("ix_contact_phones_e164", "ente_id", "e164"))

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    e164: Mapped[str] = mapped_column(String(20))
    contact: Mapped[Contact] = relationship(back_populates="phones")


class ContactEmail(IdMixin, EnteMixin, Base):
    __tablename__ = "contact_emails"
    __table_args__ = (UniqueConstraint("contact_id", "email"), Index("ix_contact_emails_email", "ente_id", "email"))

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    contact: Mapped[Contact] = relationship(back_populates="emails")


class ContactIdentity(IdMixin, EnteMixin, Base):
    """The citizen's address on one channel (Telegram user id, web session id, phone for SMS...)."""

    __tablename__ = "contact_identities"
    __table_args__ = (UniqueConstraint("ente_id", "channel", "external_id"),)

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(200))
    contact: Mapped[Contact] = relationship(back_populates="identities")


class ContactConflict(IdMixin, EnteMixin, Base):
    """A detail the citizen gave the assistant that differs from what the contact holds (a value an operator entered
    is never overwritten silently): shown on the contact until an operator uses it or keeps the old one. A value
    once decided on is not raised again."""

    __tablename__ = "contact_conflicts"
    __table_args__ = (UniqueConstraint("contact_id", "field", "value"),)

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(20))  # first_name | last_name | fiscal_code | phone | email
    value: Mapped[str] = mapped_column(String(254))
    source: Mapped[str] = mapped_column(String(40), default="assistant")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution: Mapped[str | None] = mapped_column(String(10), default=None)  # used | kept

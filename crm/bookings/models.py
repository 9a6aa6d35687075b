from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, Time, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, EnteMixin, IdMixin, TimestampMixin

KINDS = ("resource", "multi_resource", "capacity")
STATUSES = ("confirmed", "cancelled", "attended", "no_show")


class Location(IdMixin, EnteMixin, TimestampMixin, Base):
    """A sede: where a service is delivered."""

    __tablename__ = "bk_locations"

    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")


class Service(IdMixin, EnteMixin, TimestampMixin, Base):
    __tablename__ = "bk_services"
    __table_args__ = (UniqueConstraint("ente_id", "slug"),)

    slug: Mapped[str] = mapped_column(String(80))
    code_prefix: Mapped[str] = mapped_column(String(2))  # AN-7K3P9: the office at a glance
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id", ondelete="SET NULL"), default=None)
    kind: Mapped[str] = mapped_column(String(20), default="multi_resource")
    slot_minutes: Mapped[int] = mapped_column(Integer, default=20)
    buffer_before_minutes: Mapped[int] = mapped_column(Integer, default=0)
    buffer_after_minutes: Mapped[int] = mapped_column(Integer, default=0)
    min_notice_hours: Mapped[int] = mapped_column(Integer, default=2)
    horizon_days: Mapped[int] = mapped_column(Integer, default=60)
    cancel_deadline_hours: Mapped[int] = mapped_column(Integer, default=24)
    max_per_day_per_citizen: Mapped[int] = mapped_column(Integer, default=1)
    max_active_per_citizen: Mapped[int] = mapped_column(Integer, default=3)
    one_active_per_citizen: Mapped[bool] = mapped_column(Boolean, default=False)
    form_schema: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    what_to_bring: Mapped[str] = mapped_column(Text, default="")
    # resource calendars only: a booking may take up to N consecutive slots, and repeat weekly/daily up to M times
    max_slots_per_booking: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    max_series_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Resource(IdMixin, EnteMixin, TimestampMixin, Base):
    """An official, a room, a counter: one citizen at a time."""

    __tablename__ = "bk_resources"

    name: Mapped[str] = mapped_column(String(200))
    location_id: Mapped[int] = mapped_column(ForeignKey("bk_locations.id", ondelete="CASCADE"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ServiceResource(Base):
    __tablename__ = "bk_service_resources"

    service_id: Mapped[int] = mapped_column(ForeignKey("bk_services.id", ondelete="CASCADE"), primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("bk_resources.id", ondelete="CASCADE"), primary_key=True)


class OpeningHours(IdMixin, EnteMixin, Base):
    """Weekly template: several rows per weekday make breaks (09:00-12:30 and 14:30-16:30). Rows with a
    resource_id are that resource's own calendar for the service and replace the service's template for it."""

    __tablename__ = "bk_opening_hours"

    service_id: Mapped[int] = mapped_column(ForeignKey("bk_services.id", ondelete="CASCADE"), index=True)
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("bk_resources.id", ondelete="CASCADE"), default=None)
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    start: Mapped[time] = mapped_column(Time)
    end: Mapped[time] = mapped_column(Time)


class DateException(IdMixin, EnteMixin, Base):
    """A closure (closed=True) or an extra opening (start-end) on one date; service_id None = every service;
    resource_id set = only that resource (an official on leave, a room under repair)."""

    __tablename__ = "bk_exceptions"

    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("bk_services.id", ondelete="CASCADE"), index=True, default=None
    )
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("bk_resources.id", ondelete="CASCADE"), default=None)
    day: Mapped[date] = mapped_column(Date, index=True)
    closed: Mapped[bool] = mapped_column(Boolean, default=True)
    start: Mapped[time | None] = mapped_column(Time, default=None)
    end: Mapped[time | None] = mapped_column(Time, default=None)
    note: Mapped[str] = mapped_column(String(200), default="")


class Event(IdMixin, EnteMixin, TimestampMixin, Base):
    """A capacity event (meeting, course, open day): N seats, many citizens. ``booked`` only grows through a
    conditional UPDATE (booked < seats), so the database itself refuses the seat after the last."""

    __tablename__ = "bk_events"

    service_id: Mapped[int] = mapped_column(ForeignKey("bk_services.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("bk_locations.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    start: Mapped[datetime] = mapped_column()
    end: Mapped[datetime] = mapped_column()
    seats: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0)


class Booking(IdMixin, EnteMixin, TimestampMixin, Base):
    __tablename__ = "bk_bookings"
    __table_args__ = (
        UniqueConstraint("ente_id", "code"),
        UniqueConstraint("ente_id", "idempotency_key"),
        # no double booking, ever: one confirmed booking per resource and start, enforced by the database
        Index(
            "uq_bk_bookings_resource_slot",
            "resource_id",
            "start",
            unique=True,
            sqlite_where=text("status = 'confirmed' AND resource_id IS NOT NULL"),
            postgresql_where=text("status = 'confirmed' AND resource_id IS NOT NULL"),
        ),
        Index("ix_bk_bookings_contact", "ente_id", "contact_id", "status"),
        Index("ix_bk_bookings_service_start", "service_id", "start"),
    )

    code: Mapped[str] = mapped_column(String(12))
    service_id: Mapped[int] = mapped_column(ForeignKey("bk_services.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("bk_locations.id"), default=None)
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("bk_resources.id"), default=None)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("bk_events.id"), default=None)
    start: Mapped[datetime] = mapped_column()
    end: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(12), default="confirmed")
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    booked_by_kind: Mapped[str] = mapped_column(String(20))  # citizen | bot | operator
    booked_by_operator_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL"), default=None
    )
    on_behalf: Mapped[bool] = mapped_column(Boolean, default=False)
    channel: Mapped[str] = mapped_column(String(20), default="web")
    idempotency_key: Mapped[str | None] = mapped_column(String(100), default=None)
    rescheduled_from_id: Mapped[int | None] = mapped_column(ForeignKey("bk_bookings.id"), default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    reminder_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    slots: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    series_id: Mapped[str | None] = mapped_column(String(16), default=None, index=True)


class SlotClaim(Base):
    """Every grid slot a resource booking occupies, one row each: the unique key makes the database refuse any
    overlap, also for bookings longer than one slot. Released (deleted) when the booking is cancelled."""

    __tablename__ = "bk_slot_claims"
    __table_args__ = (UniqueConstraint("resource_id", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bk_bookings.id", ondelete="CASCADE"), index=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("bk_resources.id", ondelete="CASCADE"))
    start: Mapped[datetime] = mapped_column()
    end: Mapped[datetime] = mapped_column()

from __future__ import annotations

from datetime import date, time
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from crm.core.text import MAX_ID

# codes of requests (RQ-) and istanze (IS-): a booking code must never be mistaken for one of them
RESERVED_CODE_PREFIXES = frozenset({"RQ", "IS"})


class ServiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: str = Field(min_length=2, max_length=80, pattern=r"^[a-z0-9-]+$")
    code_prefix: str = Field(
        min_length=2,
        max_length=2,
        pattern=r"^[A-Z]{2}$",
        description="two capitals; RQ and IS are taken by requests and istanze",
    )
    name: str = Field(min_length=2, max_length=200)
    description: str = Field(default="", max_length=5000)
    office_id: int | None = None
    kind: Literal["resource", "multi_resource", "capacity"] = "multi_resource"
    slot_minutes: int = Field(default=20, ge=5, le=480)
    buffer_before_minutes: int = Field(default=0, ge=0, le=120)
    buffer_after_minutes: int = Field(default=0, ge=0, le=120)
    min_notice_hours: int = Field(default=2, ge=0, le=24 * 30)
    horizon_days: int = Field(default=60, ge=1, le=366)
    cancel_deadline_hours: int = Field(default=24, ge=0, le=24 * 30)
    max_per_day_per_citizen: int = Field(default=1, ge=1, le=20)
    max_active_per_citizen: int = Field(default=3, ge=1, le=50)
    one_active_per_citizen: bool = False
    form_schema: dict[str, Any] = Field(default_factory=dict, description="JSON Schema of the booking form")
    what_to_bring: str = Field(default="", max_length=2000)
    max_slots_per_booking: int = Field(
        default=1, ge=1, le=16, description="resource calendars: longest booking, in consecutive slots"
    )
    max_series_count: int = Field(
        default=0, ge=0, le=52, description="resource calendars: most occurrences of a repeated booking (0 = none)"
    )
    resource_ids: list[int] = Field(default_factory=list)

    @field_validator("code_prefix")
    @classmethod
    def _free_prefix(cls, v: str) -> str:
        if v in RESERVED_CODE_PREFIXES:
            raise ValueError("RQ and IS are reserved for requests and istanze")
        return v


class ServicePatch(BaseModel):
    """Partial update of a service; the slug and the kind stay (bookings and links refer to them)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=2, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    office_id: int | None = None
    slot_minutes: int | None = Field(default=None, ge=5, le=480)
    buffer_before_minutes: int | None = Field(default=None, ge=0, le=120)
    buffer_after_minutes: int | None = Field(default=None, ge=0, le=120)
    min_notice_hours: int | None = Field(default=None, ge=0, le=24 * 30)
    horizon_days: int | None = Field(default=None, ge=1, le=366)
    cancel_deadline_hours: int | None = Field(default=None, ge=0, le=24 * 30)
    max_per_day_per_citizen: int | None = Field(default=None, ge=1, le=20)
    max_active_per_citizen: int | None = Field(default=None, ge=1, le=50)
    one_active_per_citizen: bool | None = None
    form_schema: dict[str, Any] | None = None
    what_to_bring: str | None = Field(default=None, max_length=2000)
    max_slots_per_booking: int | None = Field(default=None, ge=1, le=16)
    max_series_count: int | None = Field(default=None, ge=0, le=52)
    active: bool | None = None
    resource_ids: list[int] | None = None


class HoursIn(BaseModel):
    """The weekly template, replacing the previous one: [{weekday, start, end}, ...]. With resource_id, the
    resource's own calendar for this service (an empty list gives it back the service's template)."""

    model_config = ConfigDict(extra="forbid")
    hours: list[dict[str, Any]] = Field(max_length=100)
    resource_id: int | None = None


class IntervalIn(BaseModel):
    weekday: int = Field(ge=0, le=6)
    start: time
    end: time

    @model_validator(mode="after")
    def _order(self) -> IntervalIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ExceptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    day: date
    closed: bool = True
    start: time | None = None
    end: time | None = None
    note: str = Field(default="", max_length=200)
    all_services: bool = False
    resource_id: int | None = Field(default=None, description="only this resource (e.g. an official on leave)")

    @model_validator(mode="after")
    def _extra(self) -> ExceptionIn:
        if not self.closed and not (self.start and self.end and self.end > self.start):
            raise ValueError("an extra opening needs start < end")
        return self


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=2, max_length=200)
    address: str = Field(default="", max_length=300)


class LocationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=2, max_length=200)
    address: str | None = Field(default=None, max_length=300)


class ResourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=2, max_length=200)
    location_id: int


class ResourcePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=2, max_length=200)
    location_id: int | None = None
    active: bool | None = None


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=2, max_length=200)
    location_id: int
    start: AwareDatetime
    end: AwareDatetime
    seats: int = Field(ge=1, le=100_000)


class EventPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=2, max_length=200)
    seats: int | None = Field(default=None, ge=1, le=100_000)
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None


class RepeatIn(BaseModel):
    """A series on a resource calendar: the same time every day or week, booked all together or not at all."""

    model_config = ConfigDict(extra="forbid")
    frequency: Literal["daily", "weekly"] = "weekly"
    count: int = Field(ge=2, le=52)


class BookingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_id: int
    start: AwareDatetime = Field(description="ISO 8601 with offset, e.g. 2026-12-01T09:20:00+01:00")
    contact_id: int
    fields: dict[str, Any] = Field(default_factory=dict)
    resource_id: int | None = None
    location_id: int | None = None
    channel: Literal["web", "sms", "telegram", "email", "phone", "counter"] = "web"
    on_behalf: bool = False
    duration_minutes: int | None = Field(
        default=None, ge=5, le=16 * 480, description="resource calendars: a multiple of the slot length"
    )
    repeat: RepeatIn | None = None


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: AwareDatetime
    resource_id: int | None = None


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=500)
    series: bool = Field(default=False, description="cancel this and every later booking of its series")


# --- what the API returns -------------------------------------------------------------------------------------------
class ServiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    slug: str
    name: str
    description: str
    kind: str
    office_id: int | None
    slot_minutes: int
    min_notice_hours: int
    horizon_days: int
    cancel_deadline_hours: int
    form_schema: dict[str, Any]
    what_to_bring: str
    code_prefix: str
    buffer_before_minutes: int
    buffer_after_minutes: int
    max_per_day_per_citizen: int
    max_active_per_citizen: int
    one_active_per_citizen: bool
    max_slots_per_booking: int
    max_series_count: int
    active: bool


class LocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    address: str


class ResourceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    location_id: int
    active: bool


class ResourceChangeOut(ResourceOut):
    upcoming_bookings: int = Field(description="confirmed future bookings still on the resource (to move)")


class HoursOut(BaseModel):
    id: int
    weekday: int
    start: str = Field(description="HH:MM, the ente's time")
    end: str
    resource_id: int | None

    @classmethod
    def of(cls, h: Any) -> HoursOut:
        return cls(
            id=h.id,
            weekday=h.weekday,
            start=h.start.strftime("%H:%M"),
            end=h.end.strftime("%H:%M"),
            resource_id=h.resource_id,
        )


class ExceptionOut(BaseModel):
    id: int
    day: str
    closed: bool
    note: str
    start: str | None
    end: str | None
    all_services: bool
    resource_id: int | None

    @classmethod
    def of(cls, e: Any) -> ExceptionOut:
        return cls(
            id=e.id,
            day=e.day.isoformat(),
            closed=e.closed,
            note=e.note,
            start=e.start.strftime("%H:%M") if e.start else None,
            end=e.end.strftime("%H:%M") if e.end else None,
            all_services=e.service_id is None,
            resource_id=e.resource_id,
        )


class ServiceDetailOut(ServiceOut):
    resource_ids: list[int]
    hours: list[HoursOut]
    exceptions: list[ExceptionOut]


class EventOut(BaseModel):
    id: int
    service_id: int
    title: str
    location_id: int
    start: str = Field(description="ISO 8601 in the ente's time zone")
    end: str
    seats: int
    booked: int

    @classmethod
    def of(cls, e: Any, tz: Any) -> EventOut:
        return cls(
            id=e.id,
            service_id=e.service_id,
            title=e.title,
            location_id=e.location_id,
            start=e.start.astimezone(tz).isoformat(),
            end=e.end.astimezone(tz).isoformat(),
            seats=e.seats,
            booked=e.booked,
        )


class BookingOut(BaseModel):
    id: int
    code: str
    service_id: int
    service_name: str | None
    contact_id: int
    location_id: int | None
    resource_id: int | None
    event_id: int | None
    start: str = Field(description="ISO 8601 in the ente's time zone")
    end: str
    status: str
    fields: dict[str, Any]
    booked_by_kind: str
    booked_by_operator_id: int | None
    on_behalf: bool
    channel: str
    rescheduled_from_id: int | None
    series_id: str | None
    slots: int
    created_at: str

    @classmethod
    def of(cls, b: Any, tz: Any, service_name: str | None = None) -> BookingOut:
        return cls(
            id=b.id,
            code=b.code,
            service_id=b.service_id,
            service_name=service_name,
            contact_id=b.contact_id,
            location_id=b.location_id,
            resource_id=b.resource_id,
            event_id=b.event_id,
            start=b.start.astimezone(tz).isoformat(),
            end=b.end.astimezone(tz).isoformat(),
            status=b.status,
            fields=b.fields,
            booked_by_kind=b.booked_by_kind,
            booked_by_operator_id=b.booked_by_operator_id,
            on_behalf=b.on_behalf,
            channel=b.channel,
            rescheduled_from_id=b.rescheduled_from_id,
            series_id=b.series_id,
            slots=b.slots,
            created_at=b.created_at.isoformat(),
        )


class BookingCreatedOut(BookingOut):
    what_to_bring: str
    series: list[BookingOut] | None = Field(default=None, description="every booking of a series, first to last")


class BookingCancelledOut(BookingOut):
    cancelled: list[BookingOut] | None = Field(default=None, description="with series=true: every booking cancelled")


class BookingLookupOut(BaseModel):
    """What a citizen needs to recognise a booking and act on it; not the form's personal fields."""

    id: int
    code: str
    service_id: int
    service_name: str
    start: str
    end: str
    status: str
    series_id: str | None
    cancel_deadline: str
    cancellable: bool


class SlotOut(BaseModel):
    """A free slot: ``remaining`` places (1 for a resource's slot, the free seats of an event); it names only the
    resource, place or event it has (rendered with ``exclude_none``: the others are absent, not null)."""

    start: str = Field(description="ISO 8601 in the ente's time zone, with its offset")
    end: str
    remaining: int
    resource_id: int | None = None
    location_id: int | None = None
    event_id: int | None = None

    @classmethod
    def of(cls, slot: Any) -> SlotOut:
        return cls(
            start=slot.start.isoformat(),
            end=slot.end.isoformat(),
            remaining=slot.remaining,
            resource_id=slot.resource_id,
            location_id=slot.location_id,
            event_id=slot.event_id,
        )


class HoursSetOut(BaseModel):
    hours: int = Field(description="how many intervals the template now has")
    resource_id: int | None


class DeletedOut(BaseModel):
    deleted: int


class IncludeInactiveQuery(BaseModel):
    include_inactive: Literal["true", "false"] | None = Field(
        default=None, description="admins: true lists the deactivated ones too"
    )


class AvailabilityQuery(BaseModel):
    from_: date = Field(alias="from", description="first day, YYYY-MM-DD")
    to: date = Field(description="last day, YYYY-MM-DD (at most 92 days after from)")
    location: int | None = Field(default=None, ge=0, le=MAX_ID)
    resource: int | None = Field(default=None, ge=0, le=MAX_ID)
    duration: int | None = Field(default=None, ge=1, le=MAX_ID, description="minutes (resource calendars)")


class ExceptionQuery(BaseModel):
    from_: date | None = Field(default=None, alias="from", description="from this day, YYYY-MM-DD")


class BookingQuery(BaseModel):
    contact_id: int | None = Field(default=None, ge=0, le=MAX_ID)
    service_id: int | None = Field(default=None, ge=0, le=MAX_ID)
    status: str | None = Field(default=None, description="confirmed, cancelled, ...")
    from_: AwareDatetime | None = Field(default=None, alias="from", description="starting from (ISO 8601, offset)")
    to: AwareDatetime | None = Field(default=None, description="starting before (ISO 8601, with offset)")

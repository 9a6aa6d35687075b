"""Booking centre: services and calendars, availability, bookings with database-enforced capacity, notices."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.bookings.availability import (
    Calendar,
    Slot,
    day_intervals,
    exact_instant,
    free_slots,
    grid,
    local_day_bounds,
    wall_label,
    windows,
)
from crm.bookings.models import (
    Booking,
    DateException,
    Event,
    Location,
    OpeningHours,
    Resource,
    Service,
    ServiceResource,
    SlotClaim,
)
from crm.bookings.schemas import (
    BookingIn,
    EventIn,
    EventPatch,
    ExceptionIn,
    IntervalIn,
    LocationIn,
    LocationPatch,
    ResourceIn,
    ResourcePatch,
    ServiceIn,
    ServicePatch,
)
from crm.contacts import service as contacts
from crm.contacts.models import Contact, ContactPhone
from crm.core import lookup as citizen_lookup
from crm.core.auth import Principal
from crm.core.errors import Conflict, NotFound, ValidationFailed
from crm.core.records import get_in_ente
from crm.core.refs import ensure_owned
from crm.core.workhours import parse_patron_day
from crm.db import utcnow
from crm.entes import service as entes
from crm.notifications import service as notifications
from crm.offices.models import Office

CODE_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY34679"
MAX_RANGE_DAYS = 92  # a quarter: what a calendar view or the bot ever asks


# --- admin: services, locations, resources, calendars -------------------------------------------------------------
async def get_service(session: AsyncSession, *, ente_id: int, service_id: int) -> Service:
    return await get_in_ente(
        session,
        Service,
        ente_id=ente_id,
        record_id=service_id,
        what="service",
        fields={"service_id": "unknown service"},
    )


async def list_services(session: AsyncSession, *, ente_id: int, include_inactive: bool = False) -> Sequence[Service]:
    stmt = select(Service).where(Service.ente_id == ente_id)
    if not include_inactive:
        stmt = stmt.where(Service.active.is_(True))
    return (await session.scalars(stmt.order_by(Service.name))).all()


def _check_form(schema: dict[str, Any] | None) -> None:
    if schema:
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValidationFailed(
                f"form_schema is not a valid JSON Schema: {exc.message}", fields={"form_schema": exc.message}
            ) from None


def _check_kind_options(kind: str, max_slots: int, max_series: int) -> None:
    if kind != "resource" and (max_slots > 1 or max_series > 0):
        raise ValidationFailed(
            "variable duration and series are for resource calendars only",
            fields={"max_slots_per_booking" if max_slots > 1 else "max_series_count": "resource calendars only"},
        )


async def create_service(session: AsyncSession, *, ente_id: int, data: ServiceIn) -> Service:
    if await session.scalar(select(Service.id).where(Service.ente_id == ente_id, Service.slug == data.slug)):
        raise Conflict(f"service {data.slug!r} exists", fields={"slug": "already used"})
    _check_form(data.form_schema)
    _check_kind_options(data.kind, data.max_slots_per_booking, data.max_series_count)
    await ensure_owned(session, ente_id=ente_id, field="office_id", model=Office, value=data.office_id)
    svc = Service(ente_id=ente_id, **data.model_dump(exclude={"resource_ids"}))
    session.add(svc)
    await session.flush()
    await set_resources(session, ente_id=ente_id, service=svc, resource_ids=data.resource_ids)
    return svc


async def update_service(session: AsyncSession, *, ente_id: int, service_id: int, data: ServicePatch) -> Service:
    """Changes apply to future availability; confirmed bookings keep their times (an operator moves them)."""
    svc = await get_service(session, ente_id=ente_id, service_id=service_id)
    changes = data.model_dump(exclude_unset=True, exclude={"resource_ids"})
    if changes.get("office_id") is not None:
        await ensure_owned(session, ente_id=ente_id, field="office_id", model=Office, value=changes["office_id"])
    if "form_schema" in changes:
        _check_form(changes["form_schema"] or {})
        changes["form_schema"] = changes["form_schema"] or {}
    for name in (
        "name",
        "slot_minutes",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "min_notice_hours",
        "horizon_days",
        "cancel_deadline_hours",
        "max_per_day_per_citizen",
        "max_active_per_citizen",
        "one_active_per_citizen",
        "what_to_bring",
        "description",
        "max_slots_per_booking",
        "max_series_count",
        "active",
    ):
        if name in changes and changes[name] is None:
            raise ValidationFailed(f"{name} cannot be null", fields={name: "cannot be null"})
    _check_kind_options(
        svc.kind,
        changes.get("max_slots_per_booking", svc.max_slots_per_booking),
        changes.get("max_series_count", svc.max_series_count),
    )
    for name, value in changes.items():
        setattr(svc, name, value)
    if data.resource_ids is not None:
        await set_resources(session, ente_id=ente_id, service=svc, resource_ids=data.resource_ids)
    await session.flush()
    return svc


async def set_resources(session: AsyncSession, *, ente_id: int, service: Service, resource_ids: list[int]) -> None:
    found = (
        await session.scalars(select(Resource.id).where(Resource.ente_id == ente_id, Resource.id.in_(resource_ids)))
    ).all()
    if set(found) != set(resource_ids):
        raise ValidationFailed("unknown resources", fields={"resource_ids": "unknown resource"})
    await session.execute(delete(ServiceResource).where(ServiceResource.service_id == service.id))
    for rid in dict.fromkeys(resource_ids):
        session.add(ServiceResource(service_id=service.id, resource_id=rid))
    await session.flush()


async def service_resource_ids(session: AsyncSession, service_id: int) -> list[int]:
    return list(
        (
            await session.scalars(
                select(ServiceResource.resource_id)
                .where(ServiceResource.service_id == service_id)
                .order_by(ServiceResource.resource_id)
            )
        ).all()
    )


async def create_location(session: AsyncSession, *, ente_id: int, data: LocationIn) -> Location:
    loc = Location(ente_id=ente_id, **data.model_dump())
    session.add(loc)
    await session.flush()
    return loc


async def get_location(session: AsyncSession, *, ente_id: int, location_id: int) -> Location:
    return await get_in_ente(session, Location, ente_id=ente_id, record_id=location_id, what="location")


async def list_locations(session: AsyncSession, *, ente_id: int) -> Sequence[Location]:
    return (await session.scalars(select(Location).where(Location.ente_id == ente_id).order_by(Location.name))).all()


async def update_location(session: AsyncSession, *, ente_id: int, location_id: int, data: LocationPatch) -> Location:
    loc = await get_location(session, ente_id=ente_id, location_id=location_id)
    for name, value in data.model_dump(exclude_unset=True).items():
        if value is None:
            raise ValidationFailed(f"{name} cannot be null", fields={name: "cannot be null"})
        setattr(loc, name, value)
    await session.flush()
    return loc


async def delete_location(session: AsyncSession, *, ente_id: int, location_id: int) -> None:
    """Only an unused location goes: bookings, events and resources keep pointing at theirs."""
    loc = await get_location(session, ente_id=ente_id, location_id=location_id)
    for model in (Resource, Event, Booking):
        if await session.scalar(select(model.id).where(model.location_id == loc.id).limit(1)):
            raise Conflict(f"the location is used by {model.__tablename__.removeprefix('bk_')}", code="in_use")
    await session.delete(loc)
    await session.flush()


async def create_resource(session: AsyncSession, *, ente_id: int, data: ResourceIn) -> Resource:
    await _known_location(session, ente_id, data.location_id)
    res = Resource(ente_id=ente_id, **data.model_dump())
    session.add(res)
    await session.flush()
    return res


async def _known_location(session: AsyncSession, ente_id: int, location_id: int) -> None:
    if not await session.scalar(select(Location.id).where(Location.ente_id == ente_id, Location.id == location_id)):
        raise ValidationFailed("unknown location", fields={"location_id": "unknown location"})


async def get_resource(session: AsyncSession, *, ente_id: int, resource_id: int) -> Resource:
    return await get_in_ente(session, Resource, ente_id=ente_id, record_id=resource_id, what="resource")


async def list_resources(session: AsyncSession, *, ente_id: int, include_inactive: bool = False) -> Sequence[Resource]:
    stmt = select(Resource).where(Resource.ente_id == ente_id)
    if not include_inactive:
        stmt = stmt.where(Resource.active.is_(True))
    return (await session.scalars(stmt.order_by(Resource.name))).all()


async def update_resource(session: AsyncSession, *, ente_id: int, resource_id: int, data: ResourcePatch) -> Resource:
    """Deactivating a resource removes it from availability; its confirmed bookings stay for an operator to move."""
    res = await get_resource(session, ente_id=ente_id, resource_id=resource_id)
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None:
            raise ValidationFailed(f"{name} cannot be null", fields={name: "cannot be null"})
    if "location_id" in changes:
        await _known_location(session, ente_id, changes["location_id"])
    for name, value in changes.items():
        setattr(res, name, value)
    await session.flush()
    return res


async def upcoming_bookings_of_resource(session: AsyncSession, resource_id: int) -> int:
    return (
        await session.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.resource_id == resource_id, Booking.status == "confirmed", Booking.start > utcnow())
        )
        or 0
    )


async def _service_resource(session: AsyncSession, service_id: int, resource_id: int) -> None:
    if not await session.scalar(
        select(ServiceResource.resource_id).where(
            ServiceResource.service_id == service_id, ServiceResource.resource_id == resource_id
        )
    ):
        raise ValidationFailed(
            "the resource does not deliver this service", fields={"resource_id": "not a resource of this service"}
        )


async def set_hours(
    session: AsyncSession, *, ente_id: int, service_id: int, hours: list[IntervalIn], resource_id: int | None = None
) -> None:
    await get_service(session, ente_id=ente_id, service_id=service_id)
    if resource_id is not None:
        await _service_resource(session, service_id, resource_id)
    _no_overlaps(hours)
    await session.execute(
        delete(OpeningHours).where(
            OpeningHours.service_id == service_id,
            OpeningHours.resource_id.is_(None) if resource_id is None else OpeningHours.resource_id == resource_id,
        )
    )
    for h in hours:
        session.add(
            OpeningHours(
                ente_id=ente_id,
                service_id=service_id,
                resource_id=resource_id,
                weekday=h.weekday,
                start=h.start,
                end=h.end,
            )
        )
    await session.flush()


def _no_overlaps(hours: list[IntervalIn]) -> None:
    by_day: dict[int, list[IntervalIn]] = {}
    for h in hours:
        by_day.setdefault(h.weekday, []).append(h)
    for day, rows in by_day.items():
        rows.sort(key=lambda h: h.start)
        for a, b in zip(rows, rows[1:], strict=False):
            if b.start < a.end:
                raise ValidationFailed(f"overlapping intervals on weekday {day}", fields={"hours": "overlap"})


async def get_hours(session: AsyncSession, *, ente_id: int, service_id: int) -> Sequence[OpeningHours]:
    await get_service(session, ente_id=ente_id, service_id=service_id)
    return (
        await session.scalars(
            select(OpeningHours)
            .where(OpeningHours.service_id == service_id)
            .order_by(OpeningHours.resource_id, OpeningHours.weekday, OpeningHours.start)
        )
    ).all()


async def add_exception(session: AsyncSession, *, ente_id: int, service_id: int, data: ExceptionIn) -> DateException:
    await get_service(session, ente_id=ente_id, service_id=service_id)
    if data.resource_id is not None:
        await _service_resource(session, service_id, data.resource_id)
    exc = DateException(
        ente_id=ente_id,
        service_id=None if data.all_services else service_id,
        day=data.day,
        closed=data.closed,
        start=data.start,
        end=data.end,
        note=data.note,
        resource_id=data.resource_id,
    )
    session.add(exc)
    await session.flush()
    return exc


async def list_exceptions(
    session: AsyncSession, *, ente_id: int, service_id: int, d_from: date | None = None
) -> Sequence[DateException]:
    await get_service(session, ente_id=ente_id, service_id=service_id)
    stmt = select(DateException).where(
        DateException.ente_id == ente_id, (DateException.service_id == service_id) | DateException.service_id.is_(None)
    )
    if d_from is not None:
        stmt = stmt.where(DateException.day >= d_from)
    return (await session.scalars(stmt.order_by(DateException.day))).all()


async def delete_exception(session: AsyncSession, *, ente_id: int, exception_id: int) -> None:
    exc = await session.scalar(
        select(DateException).where(DateException.ente_id == ente_id, DateException.id == exception_id)
    )
    if exc is None:
        raise NotFound("exception not found")
    await session.delete(exc)
    await session.flush()


async def add_event(session: AsyncSession, *, ente_id: int, service_id: int, data: EventIn) -> Event:
    svc = await get_service(session, ente_id=ente_id, service_id=service_id)
    if svc.kind != "capacity":
        raise ValidationFailed("events belong to capacity services", fields={"service_id": "not a capacity service"})
    if data.end <= data.start:
        raise ValidationFailed("end must be after start", fields={"end": "before start"})
    await _known_location(session, ente_id, data.location_id)
    ev = Event(ente_id=ente_id, service_id=service_id, **data.model_dump())
    session.add(ev)
    await session.flush()
    return ev


async def get_event(session: AsyncSession, *, ente_id: int, event_id: int, lock: bool = False) -> Event:
    return await get_in_ente(session, Event, ente_id=ente_id, record_id=event_id, what="event", lock=lock)


async def list_events(session: AsyncSession, *, ente_id: int, service_id: int) -> Sequence[Event]:
    await get_service(session, ente_id=ente_id, service_id=service_id)
    return (await session.scalars(select(Event).where(Event.service_id == service_id).order_by(Event.start))).all()


async def update_event(session: AsyncSession, *, ente_id: int, event_id: int, data: EventPatch) -> Event:
    """Seats never drop below those already booked; the time moves only while nobody has booked."""
    ev = await get_event(session, ente_id=ente_id, event_id=event_id, lock=True)
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None:
            raise ValidationFailed(f"{name} cannot be null", fields={name: "cannot be null"})
    if ("start" in changes or "end" in changes) and ev.booked > 0:
        raise Conflict("citizens have booked this event: cancel or keep its time", code="in_use")
    if changes.get("end", ev.end) <= changes.get("start", ev.start):
        raise ValidationFailed("end must be after start", fields={"end": "before start"})
    if "seats" in changes:
        # conditional UPDATE: a seat booked meanwhile is never lost
        result = await session.execute(
            update(Event).where(Event.id == ev.id, Event.booked <= changes["seats"]).values(seats=changes.pop("seats"))
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("fewer seats than already booked", fields={"seats": "below booked"}, code="in_use")
    for name, value in changes.items():
        setattr(ev, name, value)
    await session.flush()
    await session.refresh(ev)
    return ev


async def delete_event(session: AsyncSession, *, ente_id: int, event_id: int) -> None:
    ev = await get_event(session, ente_id=ente_id, event_id=event_id, lock=True)
    if ev.booked > 0 or await session.scalar(select(Booking.id).where(Booking.event_id == ev.id).limit(1)):
        raise Conflict("the event has bookings: cancel them first", code="in_use")
    await session.delete(ev)
    await session.flush()


# --- availability ---------------------------------------------------------------------------------------------------
async def _calendars(session: AsyncSession, svc: Service) -> tuple[ZoneInfo, tuple[int, int] | None, list[Calendar]]:
    """The service's calendars: one per active resource, with its own hours if it has any, and the exceptions
    that apply to it (every service, this service, this resource)."""
    ente = await entes.get(session, svc.ente_id)
    tz = ente.tz
    base: dict[int, list[tuple[time, time]]] = {}
    own: dict[int, dict[int, list[tuple[time, time]]]] = {}
    for h in (await session.scalars(select(OpeningHours).where(OpeningHours.service_id == svc.id))).all():
        target = base if h.resource_id is None else own.setdefault(h.resource_id, {})
        target.setdefault(h.weekday, []).append((h.start, h.end))
    resources = (
        await session.execute(
            select(Resource.id, Resource.location_id)
            .join(ServiceResource, ServiceResource.resource_id == Resource.id)
            .where(ServiceResource.service_id == svc.id, Resource.active.is_(True))
            .order_by(Resource.id)
        )
    ).all()
    rids = [r for r, _ in resources]
    exceptions = (
        await session.scalars(
            select(DateException).where(
                DateException.ente_id == svc.ente_id,
                (DateException.service_id == svc.id) | DateException.service_id.is_(None),
                DateException.resource_id.is_(None) | DateException.resource_id.in_(rids),
            )
        )
    ).all()
    common = [e for e in exceptions if e.resource_id is None]
    cals = [
        Calendar(
            resource_id=r,
            location_id=loc,
            weekly=own.get(r, base),
            exceptions=common + [e for e in exceptions if e.resource_id == r],
        )
        for r, loc in resources
    ]
    return tz, parse_patron_day(ente.patron_day), cals


async def _busy(
    session: AsyncSession, resource_ids: list[int], start_dt: datetime, end_dt: datetime, tz: ZoneInfo
) -> dict[tuple[int, date], list[tuple[datetime, datetime]]]:
    """Occupied time per resource and local day, whatever service booked the resource."""
    busy: dict[tuple[int, date], list[tuple[datetime, datetime]]] = {}
    if not resource_ids:
        return busy
    rows = (
        await session.execute(
            select(SlotClaim.resource_id, SlotClaim.start, SlotClaim.end).where(
                SlotClaim.resource_id.in_(resource_ids), SlotClaim.start < end_dt, SlotClaim.end > start_dt
            )
        )
    ).all()
    for rid, s, e in rows:  # kept in UTC, as the grid is
        busy.setdefault((rid, s.astimezone(tz).date()), []).append((s.astimezone(UTC), e.astimezone(UTC)))
    return busy


def _slots_needed(svc: Service, duration_minutes: int | None) -> int:
    if duration_minutes is None or duration_minutes == svc.slot_minutes:
        return 1
    if svc.kind != "resource" or svc.max_slots_per_booking <= 1:
        raise ValidationFailed(
            "this service has a fixed duration",
            fields={"duration_minutes": f"must be {svc.slot_minutes}"},
            code="constraint_failed",
        )
    if duration_minutes % svc.slot_minutes:
        raise ValidationFailed(
            f"the duration must be a multiple of {svc.slot_minutes} minutes",
            fields={"duration_minutes": f"multiple of {svc.slot_minutes}"},
            code="constraint_failed",
        )
    n = duration_minutes // svc.slot_minutes
    if n > svc.max_slots_per_booking:
        raise ValidationFailed(
            f"at most {svc.max_slots_per_booking * svc.slot_minutes} minutes",
            fields={"duration_minutes": "too long"},
            code="constraint_failed",
        )
    return n


async def availability(
    session: AsyncSession,
    *,
    ente_id: int,
    service_id: int,
    d_from: date,
    d_to: date,
    location_id: int | None = None,
    resource_id: int | None = None,
    duration_minutes: int | None = None,
) -> list[Slot]:
    if d_to < d_from:
        raise ValidationFailed("'to' is before 'from'", fields={"to": "before from"})
    if (d_to - d_from).days > MAX_RANGE_DAYS:
        raise ValidationFailed(f"at most {MAX_RANGE_DAYS} days per request", fields={"to": "range too long"})
    svc = await get_service(session, ente_id=ente_id, service_id=service_id)
    needed = _slots_needed(svc, duration_minutes)
    tz, patron, cals = await _calendars(session, svc)
    if location_id is not None:
        cals = [c for c in cals if c.location_id == location_id]
    if resource_id is not None:
        cals = [c for c in cals if c.resource_id == resource_id]
    now = utcnow()
    earliest = now + timedelta(hours=svc.min_notice_hours)
    latest = now + timedelta(days=svc.horizon_days)
    # only days inside the bookable window matter: asking for year 1 or 9999 is an empty answer, not an overflow
    d_from = max(d_from, earliest.astimezone(tz).date())
    d_to = min(d_to, latest.astimezone(tz).date())
    if d_to < d_from:
        return []
    start_dt, end_dt = local_day_bounds(d_from, tz)[0], local_day_bounds(d_to, tz)[1]
    busy = await _busy(session, [c.resource_id for c in cals], start_dt, end_dt, tz)
    events = []
    if svc.kind == "capacity":
        stmt = select(Event).where(Event.service_id == svc.id, Event.start >= start_dt, Event.start < end_dt)
        if location_id is not None:
            stmt = stmt.where(Event.location_id == location_id)
        events = list((await session.scalars(stmt.order_by(Event.start))).all())
    days = [d_from + timedelta(days=i) for i in range((d_to - d_from).days + 1)]
    return free_slots(
        kind=svc.kind,
        days=days,
        calendars=cals,
        patron_day=patron,
        tz=tz,
        slot=svc.slot_minutes,
        before=svc.buffer_before_minutes,
        after=svc.buffer_after_minutes,
        busy=busy,
        events=events,
        earliest=earliest,
        latest=latest,
        slots_needed=needed,
    )


# --- booking ----------------------------------------------------------------------------------------------------------
def new_code(prefix: str) -> str:
    return f"{prefix}-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(5))


def _validate_fields(svc: Service, fields: dict[str, Any]) -> None:
    if not svc.form_schema:
        return
    errors = sorted(
        jsonschema.Draft202012Validator(svc.form_schema, format_checker=jsonschema.FormatChecker()).iter_errors(fields),
        key=lambda e: list(e.path),
    )
    if errors:
        out = {}
        for e in errors:
            name = ".".join(str(p) for p in e.path) or (
                e.validator_value[0] if e.validator == "required" and isinstance(e.validator_value, list) else "fields"
            )
            if e.validator == "required":
                missing = [f for f in e.validator_value if f not in fields]
                name = missing[0] if missing else name
            out[f"fields.{name}"] = e.message
        raise ValidationFailed("booking form invalid: " + ", ".join(out), fields=out, code="constraint_failed")


async def _check_citizen_limits(
    session: AsyncSession,
    svc: Service,
    contact_id: int,
    start: datetime,
    tz: ZoneInfo,
    exclude: int | None = None,
    adding: int = 1,
) -> None:
    # the same citizen may appear under another contact with the same phone: count those too
    phones = select(ContactPhone.e164).where(ContactPhone.contact_id == contact_id)
    same_person = select(ContactPhone.contact_id).where(ContactPhone.e164.in_(phones))
    who = (Booking.contact_id == contact_id) | Booking.contact_id.in_(same_person)
    base = (
        select(func.count())
        .select_from(Booking)
        .where(Booking.service_id == svc.id, Booking.status == "confirmed", who, Booking.end > utcnow())
    )
    if exclude is not None:
        base = base.where(Booking.id != exclude)
    active = await session.scalar(base) or 0
    if svc.one_active_per_citizen and active >= 1:
        raise ValidationFailed(
            "the citizen already has an active booking for this service",
            fields={"contact_id": "one active booking per citizen"},
            code="constraint_failed",
        )
    if active + adding > svc.max_active_per_citizen:
        raise ValidationFailed(
            f"at most {svc.max_active_per_citizen} active bookings per citizen",
            fields={"contact_id": "too many active bookings"},
            code="constraint_failed",
        )
    day_start, day_end = local_day_bounds(start.astimezone(tz).date(), tz)
    same_day = await session.scalar(base.where(Booking.start >= day_start, Booking.start < day_end)) or 0
    if same_day >= svc.max_per_day_per_citizen:
        raise ValidationFailed(
            f"at most {svc.max_per_day_per_citizen} bookings per citizen per day",
            fields={"start": "daily limit reached"},
            code="constraint_failed",
        )


def _check_time(svc: Service, start: datetime, field: str = "start") -> None:
    now = utcnow()
    if start < now:
        raise ValidationFailed("start is in the past", fields={field: "in the past"}, code="constraint_failed")
    if start < now + timedelta(hours=svc.min_notice_hours):
        raise ValidationFailed(
            f"book at least {svc.min_notice_hours} hours ahead", fields={field: "too soon"}, code="constraint_failed"
        )
    if start > now + timedelta(days=svc.horizon_days):
        raise ValidationFailed(
            f"bookings open {svc.horizon_days} days ahead", fields={field: "beyond horizon"}, code="constraint_failed"
        )


def _runs_at(
    svc: Service,
    cals: list[Calendar],
    local: datetime,
    needed: int,
    patron: tuple[int, int] | None,
    tz: ZoneInfo,
    field: str = "start",
) -> list[tuple[Calendar, datetime, list[datetime]]]:
    """The calendars that have a run of ``needed`` slots starting at ``local``: (calendar, end, slot starts).
    Grid slots are keyed in UTC: in the repeated autumn hour two different slots read the same local time."""
    out = []
    closed = True
    at = local.astimezone(UTC)
    cache: dict[tuple[int, tuple[int, ...]], dict[datetime, tuple[datetime, list[datetime]]]] = {}
    for cal in cals:
        key = cal.key()
        if key not in cache:
            intervals = day_intervals(local.date(), cal.weekly, cal.exceptions, patron)
            closed = closed and not intervals
            cache[key] = {
                s: (e, starts)
                for s, e, starts in windows(
                    grid(
                        local.date(),
                        intervals,
                        svc.slot_minutes,
                        svc.buffer_before_minutes,
                        svc.buffer_after_minutes,
                        tz,
                    ),
                    needed,
                )
            }
        if at in cache[key]:
            end, starts = cache[key][at]
            out.append((cal, end, starts))
    if not out:
        when = local.strftime("%Y-%m-%d")
        if closed:
            raise ValidationFailed(
                f"the office is closed on {when}", fields={field: "closed day"}, code="constraint_failed"
            )
        if needed > 1:
            raise ValidationFailed(
                f"no {needed} consecutive free-standing slots start at {local.isoformat()}",
                fields={field: "not enough consecutive time"},
                code="constraint_failed",
            )
        raise ValidationFailed(
            "start is not on the slot grid", fields={field: "not a slot start"}, code="constraint_failed"
        )
    return out


async def _claim(session: AsyncSession, booking: Booking, starts: list[datetime], svc: Service) -> bool:
    """Insert the booking and one claim per slot in a savepoint: the unique keys decide, not a check in Python."""
    try:
        async with session.begin_nested():
            session.add(booking)
            await session.flush()
            for s in starts:
                session.add(
                    SlotClaim(
                        booking_id=booking.id,
                        resource_id=booking.resource_id,
                        start=s,
                        end=s + timedelta(minutes=svc.slot_minutes),
                    )
                )
            await session.flush()
    except IntegrityError:
        return False
    return True


async def _release(session: AsyncSession, booking: Booking) -> None:
    await session.execute(delete(SlotClaim).where(SlotClaim.booking_id == booking.id))
    if booking.event_id is not None:
        await session.execute(update(Event).where(Event.id == booking.event_id).values(booked=Event.booked - 1))


async def _by_key(session: AsyncSession, ente_id: int, key: str | None) -> Booking | None:
    if not key:
        return None
    return await session.scalar(select(Booking).where(Booking.ente_id == ente_id, Booking.idempotency_key == key))


async def book(
    session: AsyncSession, *, principal: Principal, data: BookingIn, idempotency_key: str | None
) -> tuple[Booking, bool]:
    """Returns (booking, created); for a series, its first booking. A repeated Idempotency-Key returns the first
    booking, created=False."""
    ente_id = principal.ente_id
    prior = await _by_key(session, ente_id, idempotency_key)
    if prior is not None:
        return prior, False
    try:
        svc = await get_service(session, ente_id=ente_id, service_id=data.service_id)
        await contacts.get(session, ente_id=ente_id, contact_id=data.contact_id)
    except NotFound as exc:
        raise ValidationFailed(exc.message, fields=exc.fields or {"contact_id": "unknown contact"}) from None
    if not svc.active:
        raise ValidationFailed("service is not bookable", fields={"service_id": "inactive"})
    _validate_fields(svc, data.fields)
    needed = _slots_needed(svc, data.duration_minutes)
    _check_time(svc, data.start)
    tz, patron, cals = await _calendars(session, svc)
    count = 1
    if data.repeat is not None:
        if svc.kind != "resource" or data.repeat.count > svc.max_series_count:
            raise ValidationFailed(
                f"this service takes series of at most {svc.max_series_count} bookings"
                if svc.kind == "resource"
                else "series are for resource calendars only",
                fields={"repeat.count": "too many" if svc.kind == "resource" else "not allowed"},
                code="constraint_failed",
            )
        count = data.repeat.count
    await _check_citizen_limits(session, svc, data.contact_id, data.start, tz, adding=count)
    common = dict(
        ente_id=ente_id,
        service_id=svc.id,
        contact_id=data.contact_id,
        fields=data.fields,
        booked_by_kind=("bot" if principal.is_service else "citizen" if principal.is_citizen else "operator"),
        booked_by_operator_id=principal.operator_id,
        on_behalf=data.on_behalf and not (principal.is_service or principal.is_citizen),
        channel=data.channel,
    )
    if svc.kind == "capacity":
        booking = await _book_seat(session, svc, data.start, data, {**common, "idempotency_key": idempotency_key})
        await _notify(session, booking, svc, "confirmed")
        return booking, True
    cals = [
        c
        for c in cals
        if (data.resource_id is None or c.resource_id == data.resource_id)
        and (data.location_id is None or c.location_id == data.location_id)
    ]
    if svc.kind == "resource" and data.resource_id is None and len({c.resource_id for c in cals}) > 1:
        raise ValidationFailed("choose a resource for this service", fields={"resource_id": "required"})
    if not cals:
        raise ValidationFailed("no resource matches", fields={"resource_id": "not available for this service"})
    local = data.start.astimezone(tz)
    if data.repeat is not None:
        return await _book_series(session, svc, cals[0], local, needed, data, common, idempotency_key, patron, tz)
    runs = _runs_at(svc, cals, local, needed, patron, tz)
    # skip resources already known to be busy (the unique key still decides for the rest, under any race)
    busy = set(
        (
            await session.scalars(
                select(SlotClaim.resource_id).where(
                    SlotClaim.resource_id.in_([c.resource_id for c, _, _ in runs]),
                    SlotClaim.start.in_({s for _, _, starts in runs for s in starts}),
                )
            )
        ).all()
    )
    for cal, end, starts in [r for r in runs if r[0].resource_id not in busy]:
        attempt = Booking(
            code=new_code(svc.code_prefix),
            resource_id=cal.resource_id,
            location_id=cal.location_id,
            start=local,
            end=end,
            slots=needed,
            idempotency_key=idempotency_key,
            **common,
        )
        if await _claim(session, attempt, starts, svc):
            await _notify(session, attempt, svc, "confirmed")
            return attempt, True
        prior = await _by_key(session, ente_id, idempotency_key)  # a concurrent retry of the same request won
        if prior is not None:
            return prior, False
    raise Conflict("the slot is no longer free", code="slot_taken")


async def _book_series(
    session: AsyncSession,
    svc: Service,
    cal: Calendar,
    first: datetime,
    needed: int,
    data: BookingIn,
    common: dict[str, Any],
    idempotency_key: str | None,
    patron: tuple[int, int] | None,
    tz: ZoneInfo,
) -> tuple[Booking, bool]:
    """All occurrences or none: any closed day or taken slot fails the whole series (the transaction rolls back),
    naming the date, so the citizen or operator can pick another time."""
    assert data.repeat is not None
    step = timedelta(days=7 if data.repeat.frequency == "weekly" else 1)
    series_id = secrets.token_hex(8)
    bookings: list[Booking] = []
    wall = first.time()
    for i in range(data.repeat.count):
        # same wall-clock time on each date, across DST changes; a date on which the clock skips that time fails
        # the series by name rather than moving the appointment by an hour
        day = first.date() + step * i
        field = f"repeat.{day.isoformat()}"
        at = exact_instant(day, wall, tz, fold=first.fold)
        if at is None:
            raise ValidationFailed(
                f"the clocks skip {wall:%H:%M} on {day.isoformat()} (daylight saving time)",
                fields={field: "time skipped by the clock change"},
                code="constraint_failed",
            )
        local = at.astimezone(tz)
        _check_time(svc, local, field)
        _, end, starts = _runs_at(svc, [cal], local, needed, patron, tz, field)[0]
        b = Booking(
            code=new_code(svc.code_prefix),
            resource_id=cal.resource_id,
            location_id=cal.location_id,
            start=local,
            end=end,
            slots=needed,
            series_id=series_id,
            idempotency_key=idempotency_key if i == 0 else None,
            **common,
        )
        if not await _claim(session, b, starts, svc):
            prior = await _by_key(session, common["ente_id"], idempotency_key)
            if prior is not None:
                return prior, False
            raise Conflict(
                f"the slot on {local.date().isoformat()} is no longer free", fields={field: "taken"}, code="slot_taken"
            )
        bookings.append(b)
    await _notify_series(session, bookings, svc, tz)
    return bookings[0], True


async def series(session: AsyncSession, *, ente_id: int, series_id: str) -> Sequence[Booking]:
    return (
        await session.scalars(
            select(Booking).where(Booking.ente_id == ente_id, Booking.series_id == series_id).order_by(Booking.start)
        )
    ).all()


async def _book_seat(
    session: AsyncSession, svc: Service, start: datetime, data: BookingIn, common: dict[str, Any]
) -> Booking:
    ev = await session.scalar(select(Event).where(Event.service_id == svc.id, Event.start == start))
    if ev is None:
        raise ValidationFailed(
            "no event starts at that time", fields={"start": "not an event start"}, code="constraint_failed"
        )
    # the seat is taken by the database: the UPDATE matches only while seats remain
    result = await session.execute(
        update(Event).where(Event.id == ev.id, Event.booked < Event.seats).values(booked=Event.booked + 1)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("the event is full", code="slot_taken")
    booking = Booking(
        code=new_code(svc.code_prefix), event_id=ev.id, location_id=ev.location_id, start=ev.start, end=ev.end, **common
    )
    session.add(booking)
    await session.flush()
    return booking


async def get_booking(session: AsyncSession, *, ente_id: int, booking_id: int, lock: bool = False) -> Booking:
    return await get_in_ente(session, Booking, ente_id=ente_id, record_id=booking_id, what="booking", lock=lock)


async def lookup(session: AsyncSession, *, ente_id: int, code: str, factor: str) -> Booking:
    """A booking by its code plus a second factor: the phone digits or fiscal code of its contact, or those given in
    the booking's own form. Same 404 whether the code is unknown or the factor wrong."""
    b = await session.scalar(select(Booking).where(Booking.ente_id == ente_id, Booking.code == code.strip().upper()))
    contact = await session.get(Contact, b.contact_id) if b else None
    if (
        b is None
        or contact is None
        or not citizen_lookup.factor_matches(
            factor,
            fiscal_codes=[contact.fiscal_code, str((b.fields or {}).get("fiscal_code") or "")],
            phones=[*(p.e164 for p in contact.phones), str((b.fields or {}).get("phone") or "")],
        )
    ):
        raise NotFound("no booking matches this code and second factor")
    return b


def cancel_deadline(b: Booking, svc: Service) -> datetime:
    """Until when a citizen (through the bot) may still cancel; operators may cancel later."""
    return b.start - timedelta(hours=svc.cancel_deadline_hours)


async def cancel(
    session: AsyncSession, *, principal: Principal, booking_id: int, whole_series: bool = False
) -> list[Booking]:
    """Cancel one booking, or it and every later confirmed booking of its series. Returns what was cancelled."""
    b = await get_booking(session, ente_id=principal.ente_id, booking_id=booking_id, lock=True)
    if b.status != "confirmed":
        raise Conflict(f"booking is {b.status}", code="illegal_transition")
    svc = await get_service(session, ente_id=b.ente_id, service_id=b.service_id)
    targets = [b]
    if whole_series:
        if b.series_id is None:
            raise ValidationFailed("the booking is not part of a series", fields={"series": "no series"})
        targets = [
            x
            for x in await series(session, ente_id=b.ente_id, series_id=b.series_id)
            if x.status == "confirmed" and x.start >= b.start
        ]
    # citizens (themselves or through the bot) respect the deadline; an operator may cancel later, e.g. when the
    # office closes
    if (principal.is_service or principal.is_citizen) and utcnow() > cancel_deadline(b, svc):
        raise ValidationFailed(
            f"bookings can be cancelled up to {svc.cancel_deadline_hours} hours before",
            fields={"start": "cancellation deadline passed"},
            code="constraint_failed",
        )
    now = utcnow()
    for x in targets:
        x.status, x.cancelled_at = "cancelled", now
        await _release(session, x)
    await session.flush()
    if len(targets) == 1:
        await _notify(session, b, svc, "cancelled")
    else:
        await _notify_series(session, targets, svc, await entes.timezone(session, b.ente_id), what="cancelled")
    return targets


async def reschedule(
    session: AsyncSession, *, principal: Principal, booking_id: int, start: datetime, resource_id: int | None
) -> Booking:
    old = await get_booking(session, ente_id=principal.ente_id, booking_id=booking_id, lock=True)
    if old.status != "confirmed":
        raise Conflict(f"booking is {old.status}", code="illegal_transition")
    svc = await get_service(session, ente_id=old.ente_id, service_id=old.service_id)
    if principal.is_citizen and utcnow() > cancel_deadline(old, svc):  # the sportello's rule: as for cancelling
        raise ValidationFailed(
            f"bookings can be moved up to {svc.cancel_deadline_hours} hours before",
            fields={"start": "deadline passed"},
            code="deadline_passed",
        )
    old.status, old.cancelled_at = "cancelled", utcnow()
    await _release(session, old)
    await session.flush()
    data = BookingIn(
        service_id=old.service_id,
        start=start,
        contact_id=old.contact_id,
        fields=old.fields,
        resource_id=resource_id,
        location_id=None if resource_id else old.location_id,
        channel=old.channel,
        on_behalf=old.on_behalf,  # type: ignore[arg-type]
        duration_minutes=old.slots * svc.slot_minutes if old.slots > 1 else None,
    )
    new, _ = await book(session, principal=principal, data=data, idempotency_key=None)
    new.rescheduled_from_id, new.series_id = old.id, old.series_id
    await session.flush()
    return new


async def mark(session: AsyncSession, *, principal: Principal, booking_id: int, status: str) -> Booking:
    b = await get_booking(session, ente_id=principal.ente_id, booking_id=booking_id, lock=True)
    if b.status != "confirmed":
        raise Conflict(f"booking is {b.status}", code="illegal_transition")
    if b.start > utcnow():
        raise Conflict("the appointment has not started yet", code="illegal_transition")
    b.status = status
    await session.flush()
    return b


def list_stmt(
    *,
    ente_id: int,
    contact_id: int | None,
    service_id: int | None,
    status: str | None,
    d_from: datetime | None,
    d_to: datetime | None,
) -> Any:
    stmt = select(Booking).where(Booking.ente_id == ente_id)
    if contact_id is not None:
        stmt = stmt.where(Booking.contact_id == contact_id)
    if service_id is not None:
        stmt = stmt.where(Booking.service_id == service_id)
    if status:
        stmt = stmt.where(Booking.status.in_(status.split(",")))
    if d_from is not None:
        stmt = stmt.where(Booking.start >= d_from)
    if d_to is not None:
        stmt = stmt.where(Booking.start < d_to)
    return stmt


# --- notices ------------------------------------------------------------------------------------------------------
def _when(b: Booking, tz: ZoneInfo) -> str:
    local = b.start.astimezone(tz)
    days = ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"]
    return f"{days[local.weekday()]} {local.strftime('%d/%m/%Y')} alle {wall_label(local, tz)}"


async def _notify(session: AsyncSession, b: Booking, svc: Service, what: str) -> None:
    ente = await entes.get(session, b.ente_id)
    tz = ente.tz
    if what == "confirmed":
        text = f"{ente.name}: appuntamento confermato per «{svc.name}» {_when(b, tz)}. Codice {b.code}." + (
            f" Porti con sé: {svc.what_to_bring}" if svc.what_to_bring else ""
        )
    elif what == "cancelled":
        text = f"{ente.name}: l'appuntamento {b.code} per «{svc.name}» {_when(b, tz)} è stato annullato."
    else:
        text = f"{ente.name}: le ricordiamo l'appuntamento {b.code} per «{svc.name}» {_when(b, tz)}."
    await notifications.enqueue(
        session,
        ente_id=b.ente_id,
        contact_id=b.contact_id,
        kind=f"booking.{what}",
        text=text,
        subject=f"Appuntamento {b.code}",
        dedupe_key=f"booking:{b.id}:{what}",
    )


async def _notify_series(
    session: AsyncSession, items: list[Booking], svc: Service, tz: ZoneInfo, what: str = "confirmed"
) -> None:
    """One message for a whole series, not one per occurrence."""
    ente = await entes.get(session, items[0].ente_id)
    first, last = items[0], items[-1]
    verb = "confermati" if what == "confirmed" else "annullati"
    text = (
        f"{ente.name}: {verb} {len(items)} appuntamenti per «{svc.name}», dal {_when(first, tz)} al "
        f"{_when(last, tz)}. Codici {first.code} ... {last.code}."
    )
    await notifications.enqueue(
        session,
        ente_id=first.ente_id,
        contact_id=first.contact_id,
        kind=f"booking.series_{what}",
        text=text,
        subject=f"Appuntamenti {first.code}",
        dedupe_key=f"booking-series:{first.series_id}:{first.id}:{what}",
    )


REMINDER_BATCH = 50  # per transaction: the scheduler never holds SQLite's writer for long (issue 14, item 6)


def _reminder_due(hours_before: int, ente_id: int | None) -> list[Any]:
    now = utcnow()
    due = [
        Booking.status == "confirmed",
        Booking.reminder_sent.is_(False),
        Booking.start > now,
        Booking.start <= now + timedelta(hours=hours_before),
    ]
    return due if ente_id is None else [*due, Booking.ente_id == ente_id]


async def reminders_due(session: AsyncSession, *, hours_before: int = 24, ente_id: int | None = None) -> bool:
    """Whether a reminder is due: the job asks with a read-only session and writes only when one is."""
    return await session.scalar(select(Booking.id).where(*_reminder_due(hours_before, ente_id)).limit(1)) is not None


async def send_reminders(
    session: AsyncSession, *, hours_before: int = 24, ente_id: int | None = None, limit: int = REMINDER_BATCH
) -> int:
    """Queue a reminder for up to ``limit`` confirmed bookings starting within ``hours_before`` hours (once each);
    the caller repeats in a new transaction while a full batch came back."""
    stmt = select(Booking).where(*_reminder_due(hours_before, ente_id))
    count = 0
    for b in (await session.scalars(stmt.order_by(Booking.start, Booking.id).limit(limit))).all():
        svc = await session.get(Service, b.service_id)
        assert svc is not None
        await _notify(session, b, svc, "reminder")
        b.reminder_sent = True
        count += 1
    return count

"""Booking centre: services and calendars, availability, bookings with database-enforced capacity, notices."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.bookings.availability import Slot, day_intervals, free_slots, grid
from crm.bookings.models import (Booking, DateException, Event, Location, OpeningHours, Resource, Service,
                                 ServiceResource)
from crm.bookings.schemas import BookingIn, EventIn, ExceptionIn, IntervalIn, LocationIn, ResourceIn, ServiceIn
from crm.contacts import service as contacts
from crm.contacts.models import ContactPhone
from crm.core.auth import Principal
from crm.core.errors import Conflict, NotFound, ValidationFailed
from crm.core.workhours import parse_patron_day
from crm.db import utcnow
from crm.entes import service as entes
from crm.notifications import service as notifications

CODE_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY34679"
MAX_RANGE_DAYS = 62


# --- admin: services, locations, resources, calendars -------------------------------------------------------------
async def get_service(session: AsyncSession, *, ente_id: int, service_id: int) -> Service:
    svc = await session.scalar(select(Service).where(Service.ente_id == ente_id, Service.id == service_id))
    if svc is None:
        raise NotFound("service not found", fields={"service_id": "unknown service"})
    return svc


async def list_services(session: AsyncSession, *, ente_id: int) -> Sequence[Service]:
    return (await session.scalars(select(Service).where(Service.ente_id == ente_id, Service.active.is_(True))
                                  .order_by(Service.name))).all()


async def create_service(session: AsyncSession, *, ente_id: int, data: ServiceIn) -> Service:
    if await session.scalar(select(Service.id).where(Service.ente_id == ente_id, Service.slug == data.slug)):
        raise Conflict(f"service {data.slug!r} exists", fields={"slug": "already used"})
    if data.form_schema:
        try:
            jsonschema.Draft202012Validator.check_schema(data.form_schema)
        except jsonschema.SchemaError as exc:
            raise ValidationFailed(f"form_schema is not a valid JSON Schema: {exc.message}",
                                   fields={"form_schema": exc.message}) from None
    svc = Service(ente_id=ente_id, **data.model_dump(exclude={"resource_ids"}))
    session.add(svc)
    await session.flush()
    await set_resources(session, ente_id=ente_id, service=svc, resource_ids=data.resource_ids)
    return svc


async def set_resources(session: AsyncSession, *, ente_id: int, service: Service, resource_ids: list[int]) -> None:
    found = (await session.scalars(select(Resource.id).where(Resource.ente_id == ente_id,
                                                             Resource.id.in_(resource_ids)))).all()
    if set(found) != set(resource_ids):
        raise ValidationFailed("unknown resources", fields={"resource_ids": "unknown resource"})
    await session.execute(delete(ServiceResource).where(ServiceResource.service_id == service.id))
    for rid in resource_ids:
        session.add(ServiceResource(service_id=service.id, resource_id=rid))
    await session.flush()


async def create_location(session: AsyncSession, *, ente_id: int, data: LocationIn) -> Location:
    loc = Location(ente_id=ente_id, **data.model_dump())
    session.add(loc)
    await session.flush()
    return loc


async def create_resource(session: AsyncSession, *, ente_id: int, data: ResourceIn) -> Resource:
    if not await session.scalar(select(Location.id).where(Location.ente_id == ente_id,
                                                          Location.id == data.location_id)):
        raise ValidationFailed("unknown location", fields={"location_id": "unknown location"})
    res = Resource(ente_id=ente_id, **data.model_dump())
    session.add(res)
    await session.flush()
    return res


async def set_hours(session: AsyncSession, *, ente_id: int, service_id: int, hours: list[IntervalIn]) -> None:
    await get_service(session, ente_id=ente_id, service_id=service_id)
    await session.execute(delete(OpeningHours).where(OpeningHours.service_id == service_id))
    for h in hours:
        session.add(OpeningHours(ente_id=ente_id, service_id=service_id, weekday=h.weekday, start=h.start, end=h.end))
    await session.flush()


async def add_exception(session: AsyncSession, *, ente_id: int, service_id: int, data: ExceptionIn) -> DateException:
    await get_service(session, ente_id=ente_id, service_id=service_id)
    exc = DateException(ente_id=ente_id, service_id=None if data.all_services else service_id, day=data.day,
                        closed=data.closed, start=data.start, end=data.end, note=data.note)
    session.add(exc)
    await session.flush()
    return exc


async def add_event(session: AsyncSession, *, ente_id: int, service_id: int, data: EventIn) -> Event:
    svc = await get_service(session, ente_id=ente_id, service_id=service_id)
    if svc.kind != "capacity":
        raise ValidationFailed("events belong to capacity services", fields={"service_id": "not a capacity service"})
    if data.end <= data.start:
        raise ValidationFailed("end must be after start", fields={"end": "before start"})
    ev = Event(ente_id=ente_id, service_id=service_id, **data.model_dump())
    session.add(ev)
    await session.flush()
    return ev


# --- availability ---------------------------------------------------------------------------------------------------
async def _calendar(session: AsyncSession, svc: Service) -> tuple[Any, ...]:
    ente = await entes.get(session, svc.ente_id)
    tz = ZoneInfo(ente.timezone)
    weekly: dict[int, list[tuple[time, time]]] = {}
    for h in (await session.scalars(select(OpeningHours).where(OpeningHours.service_id == svc.id))).all():
        weekly.setdefault(h.weekday, []).append((h.start, h.end))
    exceptions = (await session.scalars(select(DateException).where(
        DateException.ente_id == svc.ente_id,
        (DateException.service_id == svc.id) | DateException.service_id.is_(None)))).all()
    resources = (await session.execute(
        select(Resource.id, Resource.location_id).join(ServiceResource, ServiceResource.resource_id == Resource.id)
        .where(ServiceResource.service_id == svc.id, Resource.active.is_(True)).order_by(Resource.id))).all()
    return tz, weekly, list(exceptions), parse_patron_day(ente.patron_day), [(r, loc) for r, loc in resources]


async def availability(session: AsyncSession, *, ente_id: int, service_id: int, d_from: date, d_to: date,
                       location_id: int | None = None, resource_id: int | None = None) -> list[Slot]:
    if d_to < d_from:
        raise ValidationFailed("'to' is before 'from'", fields={"to": "before from"})
    if (d_to - d_from).days > MAX_RANGE_DAYS:
        raise ValidationFailed(f"at most {MAX_RANGE_DAYS} days per request", fields={"to": "range too long"})
    svc = await get_service(session, ente_id=ente_id, service_id=service_id)
    tz, weekly, exceptions, patron, resources = await _calendar(session, svc)
    if location_id is not None:
        resources = [r for r in resources if r[1] == location_id]
    if resource_id is not None:
        resources = [r for r in resources if r[0] == resource_id]
    now = utcnow()
    earliest = now + timedelta(hours=svc.min_notice_hours)
    latest = now + timedelta(days=svc.horizon_days)
    start_dt = datetime.combine(d_from, time(0), tz)
    end_dt = datetime.combine(d_to + timedelta(days=1), time(0), tz)
    taken = {(r, s.astimezone(tz)) for r, s in (await session.execute(
        select(Booking.resource_id, Booking.start).where(Booking.service_id == svc.id,
                                                         Booking.status == "confirmed",
                                                         Booking.start >= start_dt, Booking.start < end_dt))).all()
             if r is not None}
    # a resource shared with other services is busy whatever service booked it
    taken |= {(r, s.astimezone(tz)) for r, s in (await session.execute(
        select(Booking.resource_id, Booking.start).where(Booking.resource_id.in_([r for r, _ in resources]),
                                                         Booking.status == "confirmed",
                                                         Booking.start >= start_dt, Booking.start < end_dt))).all()}
    events = []
    if svc.kind == "capacity":
        stmt = select(Event).where(Event.service_id == svc.id, Event.start >= start_dt, Event.start < end_dt)
        if location_id is not None:
            stmt = stmt.where(Event.location_id == location_id)
        events = list((await session.scalars(stmt.order_by(Event.start))).all())
    days = [d_from + timedelta(days=i) for i in range((d_to - d_from).days + 1)]
    return free_slots(kind=svc.kind, days=days, weekly=weekly, exceptions=exceptions, patron_day=patron, tz=tz,
                      slot=svc.slot_minutes, before=svc.buffer_before_minutes, after=svc.buffer_after_minutes,
                      resources=resources, taken=taken, events=events, earliest=earliest, latest=latest)


# --- booking ----------------------------------------------------------------------------------------------------------
def new_code(prefix: str) -> str:
    return f"{prefix}-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(5))


def _validate_fields(svc: Service, fields: dict[str, Any]) -> None:
    if not svc.form_schema:
        return
    errors = sorted(jsonschema.Draft202012Validator(svc.form_schema, format_checker=jsonschema.FormatChecker())
                    .iter_errors(fields), key=lambda e: list(e.path))
    if errors:
        out = {}
        for e in errors:
            name = ".".join(str(p) for p in e.path) or (e.validator_value[0] if e.validator == "required" and
                                                        isinstance(e.validator_value, list) else "fields")
            if e.validator == "required":
                missing = [f for f in e.validator_value if f not in fields]
                name = missing[0] if missing else name
            out[f"fields.{name}"] = e.message
        raise ValidationFailed("booking form invalid: " + ", ".join(out), fields=out, code="constraint_failed")


async def _check_citizen_limits(session: AsyncSession, svc: Service, contact_id: int, start: datetime,
                                tz: ZoneInfo, exclude: int | None = None) -> None:
    # the same citizen may appear under another contact with the same phone: count those too
    phones = select(ContactPhone.e164).where(ContactPhone.contact_id == contact_id)
    same_person = select(ContactPhone.contact_id).where(ContactPhone.e164.in_(phones))
    who = (Booking.contact_id == contact_id) | Booking.contact_id.in_(same_person)
    base = select(func.count()).select_from(Booking).where(Booking.service_id == svc.id, Booking.status == "confirmed",
                                                            who, Booking.end > utcnow())
    if exclude is not None:
        base = base.where(Booking.id != exclude)
    active = await session.scalar(base) or 0
    if svc.one_active_per_citizen and active >= 1:
        raise ValidationFailed("the citizen already has an active booking for this service",
                               fields={"contact_id": "one active booking per citizen"}, code="constraint_failed")
    if active >= svc.max_active_per_citizen:
        raise ValidationFailed(f"at most {svc.max_active_per_citizen} active bookings per citizen",
                               fields={"contact_id": "too many active bookings"}, code="constraint_failed")
    day_start = datetime.combine(start.astimezone(tz).date(), time(0), tz)
    same_day = await session.scalar(base.where(Booking.start >= day_start,
                                               Booking.start < day_start + timedelta(days=1))) or 0
    if same_day >= svc.max_per_day_per_citizen:
        raise ValidationFailed(f"at most {svc.max_per_day_per_citizen} bookings per citizen per day",
                               fields={"start": "daily limit reached"}, code="constraint_failed")


async def _check_slot(session: AsyncSession, svc: Service, start: datetime) -> tuple[datetime, ZoneInfo, list, Any]:  # type: ignore[type-arg]
    tz, weekly, exceptions, patron, resources = await _calendar(session, svc)
    now = utcnow()
    if start < now:
        raise ValidationFailed("start is in the past", fields={"start": "in the past"}, code="constraint_failed")
    if start < now + timedelta(hours=svc.min_notice_hours):
        raise ValidationFailed(f"book at least {svc.min_notice_hours} hours ahead", fields={"start": "too soon"},
                               code="constraint_failed")
    if start > now + timedelta(days=svc.horizon_days):
        raise ValidationFailed(f"bookings open {svc.horizon_days} days ahead", fields={"start": "beyond horizon"},
                               code="constraint_failed")
    if svc.kind == "capacity":
        return start, tz, resources, None
    local = start.astimezone(tz)
    intervals = day_intervals(local.date(), weekly, exceptions, patron)
    if not intervals:
        raise ValidationFailed("the office is closed that day", fields={"start": "closed day"},
                               code="constraint_failed")
    slots = {s: e for s, e in grid(local.date(), intervals, svc.slot_minutes, svc.buffer_before_minutes,
                                   svc.buffer_after_minutes, tz)}
    if local not in slots:
        raise ValidationFailed("start is not on the slot grid", fields={"start": "not a slot start"},
                               code="constraint_failed")
    return local, tz, resources, slots[local]


async def book(session: AsyncSession, *, principal: Principal, data: BookingIn,
               idempotency_key: str | None) -> tuple[Booking, bool]:
    """Returns (booking, created). A repeated Idempotency-Key returns the first booking, created=False."""
    ente_id = principal.ente_id
    if idempotency_key:
        prior = await session.scalar(select(Booking).where(Booking.ente_id == ente_id,
                                                           Booking.idempotency_key == idempotency_key))
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
    start, tz, resources, end = await _check_slot(session, svc, data.start)
    await _check_citizen_limits(session, svc, data.contact_id, start, tz)
    common = dict(ente_id=ente_id, service_id=svc.id, contact_id=data.contact_id, fields=data.fields,
                  booked_by_kind="bot" if principal.is_service else "operator",
                  booked_by_operator_id=principal.operator_id, on_behalf=data.on_behalf and not principal.is_service,
                  channel=data.channel, idempotency_key=idempotency_key)
    if svc.kind == "capacity":
        booking = await _book_seat(session, svc, start, data, common)
    else:
        candidates = [(r, loc) for r, loc in resources
                      if (data.resource_id is None or r == data.resource_id)
                      and (data.location_id is None or loc == data.location_id)]
        if svc.kind == "resource" and data.resource_id is None and len(candidates) > 1:
            raise ValidationFailed("choose a resource for this service", fields={"resource_id": "required"})
        if not candidates:
            raise ValidationFailed("no resource matches", fields={"resource_id": "not available for this service"})
        booking = None
        for rid, loc in candidates:
            attempt = Booking(code=new_code(svc.code_prefix), resource_id=rid, location_id=loc, start=start, end=end,
                              **common)
            try:
                async with session.begin_nested():  # the unique index decides, not a check in Python
                    session.add(attempt)
                    await session.flush()
            except IntegrityError:
                if idempotency_key:
                    prior = await session.scalar(select(Booking).where(Booking.ente_id == ente_id,
                                                                       Booking.idempotency_key == idempotency_key))
                    if prior is not None:
                        return prior, False
                continue
            booking = attempt
            break
        if booking is None:
            raise Conflict("the slot is no longer free", code="slot_taken")
    await _notify(session, booking, svc, "confirmed")
    return booking, True


async def _book_seat(session: AsyncSession, svc: Service, start: datetime, data: BookingIn,
                     common: dict[str, Any]) -> Booking:
    ev = await session.scalar(select(Event).where(Event.service_id == svc.id, Event.start == start))
    if ev is None:
        raise ValidationFailed("no event starts at that time", fields={"start": "not an event start"},
                               code="constraint_failed")
    # the seat is taken by the database: the UPDATE matches only while seats remain
    result = await session.execute(update(Event).where(Event.id == ev.id, Event.booked < Event.seats)
                                   .values(booked=Event.booked + 1))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("the event is full", code="slot_taken")
    booking = Booking(code=new_code(svc.code_prefix), event_id=ev.id, location_id=ev.location_id, start=ev.start,
                      end=ev.end, **common)
    session.add(booking)
    await session.flush()
    return booking


async def get_booking(session: AsyncSession, *, ente_id: int, booking_id: int, lock: bool = False) -> Booking:
    stmt = select(Booking).where(Booking.ente_id == ente_id, Booking.id == booking_id)
    if lock:
        stmt = stmt.with_for_update()
    b = await session.scalar(stmt)
    if b is None:
        raise NotFound("booking not found")
    return b


async def cancel(session: AsyncSession, *, principal: Principal, booking_id: int) -> Booking:
    b = await get_booking(session, ente_id=principal.ente_id, booking_id=booking_id, lock=True)
    if b.status != "confirmed":
        raise Conflict(f"booking is {b.status}", code="illegal_transition")
    svc = await get_service(session, ente_id=b.ente_id, service_id=b.service_id)
    # citizens (through the bot) respect the deadline; an operator may cancel later, e.g. when the office closes
    if principal.is_service and b.start - utcnow() < timedelta(hours=svc.cancel_deadline_hours):
        raise ValidationFailed(f"bookings can be cancelled up to {svc.cancel_deadline_hours} hours before",
                               fields={"start": "cancellation deadline passed"}, code="constraint_failed")
    b.status, b.cancelled_at = "cancelled", utcnow()
    if b.event_id is not None:
        await session.execute(update(Event).where(Event.id == b.event_id).values(booked=Event.booked - 1))
    await session.flush()
    await _notify(session, b, svc, "cancelled")
    return b


async def reschedule(session: AsyncSession, *, principal: Principal, booking_id: int, start: datetime,
                     resource_id: int | None) -> Booking:
    old = await get_booking(session, ente_id=principal.ente_id, booking_id=booking_id, lock=True)
    if old.status != "confirmed":
        raise Conflict(f"booking is {old.status}", code="illegal_transition")
    old.status, old.cancelled_at = "cancelled", utcnow()
    if old.event_id is not None:
        await session.execute(update(Event).where(Event.id == old.event_id).values(booked=Event.booked - 1))
    await session.flush()
    data = BookingIn(service_id=old.service_id, start=start, contact_id=old.contact_id, fields=old.fields,
                     resource_id=resource_id, location_id=None if resource_id else old.location_id,
                     channel=old.channel, on_behalf=old.on_behalf)  # type: ignore[arg-type]
    new, _ = await book(session, principal=principal, data=data, idempotency_key=None)
    new.rescheduled_from_id = old.id
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


def list_stmt(*, ente_id: int, contact_id: int | None, service_id: int | None, status: str | None,
              d_from: datetime | None, d_to: datetime | None) -> Any:
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
    return f"{days[local.weekday()]} {local.strftime('%d/%m/%Y')} alle {local.strftime('%H:%M')}"


async def _notify(session: AsyncSession, b: Booking, svc: Service, what: str) -> None:
    ente = await entes.get(session, b.ente_id)
    tz = ZoneInfo(ente.timezone)
    if what == "confirmed":
        text = (f"{ente.name}: appuntamento confermato per «{svc.name}» {_when(b, tz)}. Codice {b.code}."
                + (f" Porti con sé: {svc.what_to_bring}" if svc.what_to_bring else ""))
    elif what == "cancelled":
        text = f"{ente.name}: l'appuntamento {b.code} per «{svc.name}» {_when(b, tz)} è stato annullato."
    else:
        text = f"{ente.name}: le ricordiamo l'appuntamento {b.code} per «{svc.name}» {_when(b, tz)}."
    await notifications.enqueue(session, ente_id=b.ente_id, contact_id=b.contact_id, kind=f"booking.{what}",
                                text=text, subject=f"Appuntamento {b.code}", dedupe_key=f"booking:{b.id}:{what}")


async def send_reminders(session: AsyncSession, *, hours_before: int = 24, ente_id: int | None = None) -> int:
    """Queue a reminder for confirmed bookings starting within ``hours_before`` hours (once each)."""
    now = utcnow()
    stmt = select(Booking).where(Booking.status == "confirmed", Booking.reminder_sent.is_(False),
                                 Booking.start > now, Booking.start <= now + timedelta(hours=hours_before))
    if ente_id is not None:
        stmt = stmt.where(Booking.ente_id == ente_id)
    count = 0
    for b in (await session.scalars(stmt)).all():
        svc = await session.get(Service, b.service_id)
        assert svc is not None
        await _notify(session, b, svc, "reminder")
        b.reminder_sent = True
        count += 1
    return count

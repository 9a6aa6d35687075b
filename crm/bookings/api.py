from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar
from icalendar import Event as IcsEvent
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

from crm.audit import service as audit
from crm.bookings import service
from crm.bookings.models import Booking, Service
from crm.bookings.schemas import (BookingIn, CancelIn, EventIn, ExceptionIn, HoursIn, IntervalIn, LocationIn,
                                  RescheduleIn, ResourceIn, ServiceIn)
from crm.core.auth import STAFF, authorized, principal_of
from crm.core.errors import ValidationFailed
from crm.core.http import apply_sort, json_ok, page_params, paginate, parse_body, validate
from crm.core.openapi import openapi
from crm.db import db_session
from crm.entes import service as entes

bp = Blueprint("bookings", url_prefix="/api/v1")
BOOKERS = ("admin", "operator", "phone_operator", "service")


def service_out(s: Service) -> dict[str, Any]:
    return {"id": s.id, "slug": s.slug, "name": s.name, "description": s.description, "kind": s.kind,
            "office_id": s.office_id, "slot_minutes": s.slot_minutes, "min_notice_hours": s.min_notice_hours,
            "horizon_days": s.horizon_days, "cancel_deadline_hours": s.cancel_deadline_hours,
            "form_schema": s.form_schema, "what_to_bring": s.what_to_bring, "code_prefix": s.code_prefix}


def booking_out(b: Booking, tz: ZoneInfo, service_name: str | None = None) -> dict[str, Any]:
    return {"id": b.id, "code": b.code, "service_id": b.service_id, "service_name": service_name,
            "contact_id": b.contact_id, "location_id": b.location_id, "resource_id": b.resource_id,
            "event_id": b.event_id, "start": b.start.astimezone(tz).isoformat(),
            "end": b.end.astimezone(tz).isoformat(), "status": b.status, "fields": b.fields,
            "booked_by_kind": b.booked_by_kind, "booked_by_operator_id": b.booked_by_operator_id,
            "on_behalf": b.on_behalf, "channel": b.channel, "rescheduled_from_id": b.rescheduled_from_id,
            "created_at": b.created_at.isoformat()}


async def _tz(s: Any, ente_id: int) -> ZoneInfo:
    return ZoneInfo((await entes.get(s, ente_id)).timezone)


def _date(request: Request, name: str) -> date:
    raw_value = request.args.get(name)
    if not raw_value:
        raise ValidationFailed(f"{name} is required (YYYY-MM-DD)", fields={name: "required"})
    try:
        return date.fromisoformat(raw_value)
    except ValueError:
        raise ValidationFailed(f"{name} must be a date YYYY-MM-DD", fields={name: "invalid date"}) from None


def _opt_int(request: Request, name: str) -> int | None:
    v = request.args.get(name)
    if v in (None, ""):
        return None
    if not v.isdigit():
        raise ValidationFailed(f"{name} must be an integer", fields={name: "must be an integer"})
    return int(v)


@bp.get("/services")
@authorized(*STAFF, "service")
@openapi(summary="Bookable services")
async def list_services(request: Request) -> HTTPResponse:
    async with db_session(request) as s:
        items = [service_out(x) for x in await service.list_services(s, ente_id=principal_of(request).ente_id)]
    return json_ok({"items": items, "total": len(items)})


@bp.post("/services")
@authorized("admin")
@openapi(summary="Create a service (admins)", body=ServiceIn)
async def create_service(request: Request) -> HTTPResponse:
    data = parse_body(request, ServiceIn)
    async with db_session(request) as s:
        svc = await service.create_service(s, ente_id=principal_of(request).ente_id, data=data)
        return json_ok(service_out(svc), status=201)


@bp.put("/services/<service_id:int>/hours")
@authorized("admin")
@openapi(summary="Replace the weekly opening template: {hours: [{weekday, start, end}]}", body=HoursIn)
async def set_hours(request: Request, service_id: int) -> HTTPResponse:
    data = parse_body(request, HoursIn)
    hours = [validate(IntervalIn, h) for h in data.hours]
    async with db_session(request) as s:
        await service.set_hours(s, ente_id=principal_of(request).ente_id, service_id=service_id, hours=hours)
    return json_ok({"hours": len(hours)})


@bp.post("/services/<service_id:int>/exceptions")
@authorized("admin")
@openapi(summary="A closure or an extra opening on one date", body=ExceptionIn)
async def add_exception(request: Request, service_id: int) -> HTTPResponse:
    data = parse_body(request, ExceptionIn)
    async with db_session(request) as s:
        exc = await service.add_exception(s, ente_id=principal_of(request).ente_id, service_id=service_id, data=data)
        return json_ok({"id": exc.id, "day": exc.day.isoformat(), "closed": exc.closed}, status=201)


@bp.post("/services/<service_id:int>/events")
@authorized("admin")
@openapi(summary="A capacity event with N seats", body=EventIn)
async def add_event(request: Request, service_id: int) -> HTTPResponse:
    data = parse_body(request, EventIn)
    async with db_session(request) as s:
        ev = await service.add_event(s, ente_id=principal_of(request).ente_id, service_id=service_id, data=data)
        return json_ok({"id": ev.id, "seats": ev.seats, "start": ev.start.isoformat()}, status=201)


@bp.post("/locations")
@authorized("admin")
@openapi(summary="A location (sede)", body=LocationIn)
async def create_location(request: Request) -> HTTPResponse:
    data = parse_body(request, LocationIn)
    async with db_session(request) as s:
        loc = await service.create_location(s, ente_id=principal_of(request).ente_id, data=data)
        return json_ok({"id": loc.id, "name": loc.name}, status=201)


@bp.post("/resources")
@authorized("admin")
@openapi(summary="A resource (official, room, counter)", body=ResourceIn)
async def create_resource(request: Request) -> HTTPResponse:
    data = parse_body(request, ResourceIn)
    async with db_session(request) as s:
        res = await service.create_resource(s, ente_id=principal_of(request).ente_id, data=data)
        return json_ok({"id": res.id, "name": res.name, "location_id": res.location_id}, status=201)


@bp.get("/services/<service_id:int>/availability")
@authorized(*STAFF, "service")
@openapi(summary="Free slots: from=YYYY-MM-DD&to=YYYY-MM-DD[&location=][&resource=] (Europe/Rome, with offsets)")
async def availability(request: Request, service_id: int) -> HTTPResponse:
    d_from, d_to = _date(request, "from"), _date(request, "to")
    async with db_session(request) as s:
        slots = await service.availability(s, ente_id=principal_of(request).ente_id, service_id=service_id,
                                           d_from=d_from, d_to=d_to, location_id=_opt_int(request, "location"),
                                           resource_id=_opt_int(request, "resource"))
    return json_ok({"items": [x.as_dict() for x in slots], "total": len(slots)})


@bp.post("/bookings")
@authorized(*BOOKERS)
@openapi(summary="Book a slot (Idempotency-Key header honoured): 201, 409 slot taken, 422 constraint", body=BookingIn)
async def create_booking(request: Request) -> HTTPResponse:
    data = parse_body(request, BookingIn)
    key = request.headers.get("idempotency-key")
    if key is not None and not (1 <= len(key) <= 100):
        raise ValidationFailed("Idempotency-Key must be 1-100 characters", fields={"Idempotency-Key": "invalid"})
    p = principal_of(request)
    async with db_session(request) as s:
        b, created = await service.book(s, principal=p, data=data, idempotency_key=key)
        svc = await service.get_service(s, ente_id=p.ente_id, service_id=b.service_id)
        if created:
            await audit.record(s, principal=p, action="create", entity="booking", entity_id=b.id,
                               details={"contact_id": b.contact_id, "on_behalf": b.on_behalf})
        body = booking_out(b, await _tz(s, p.ente_id), svc.name) | {"what_to_bring": svc.what_to_bring}
    return json_ok(body, status=201 if created else 200)


@bp.get("/bookings")
@authorized(*STAFF, "service")
@openapi(summary="Bookings: contact_id=, service_id=, status=, from=, to=")
async def list_bookings(request: Request) -> HTTPResponse:
    p = principal_of(request)
    page = page_params(request)

    def dt(name: str) -> datetime | None:
        v = request.args.get(name)
        if not v:
            return None
        try:
            d = datetime.fromisoformat(v)
        except ValueError:
            raise ValidationFailed(f"{name} must be ISO date-time with offset", fields={name: "invalid"}) from None
        if d.tzinfo is None:
            raise ValidationFailed(f"{name} needs a time-zone offset", fields={name: "time zone required"})
        return d

    stmt = service.list_stmt(ente_id=p.ente_id, contact_id=_opt_int(request, "contact_id"),
                             service_id=_opt_int(request, "service_id"), status=request.args.get("status"),
                             d_from=dt("from"), d_to=dt("to"))
    stmt = apply_sort(stmt, page, {"start": Booking.start, "created_at": Booking.created_at}, [Booking.start])
    async with db_session(request) as s:
        tz = await _tz(s, p.ente_id)
        names = {x.id: x.name for x in await service.list_services(s, ente_id=p.ente_id)}
        return json_ok(await paginate(s, stmt, page, lambda b: booking_out(b, tz, names.get(b.service_id))))


@bp.get("/bookings/<booking_id:int>")
@authorized(*STAFF, "service")
@openapi(summary="A booking")
async def get_booking(request: Request, booking_id: int) -> HTTPResponse:
    p = principal_of(request)
    async with db_session(request) as s:
        b = await service.get_booking(s, ente_id=p.ente_id, booking_id=booking_id)
        return json_ok(booking_out(b, await _tz(s, p.ente_id)))


@bp.get("/bookings/<booking_file:ext=ics>")
@authorized(*STAFF, "service")
@openapi(summary="The booking as an iCalendar file: /bookings/{id}.ics")
async def booking_ics(request: Request, booking_file: str, ext: str) -> HTTPResponse:
    if not booking_file.isdigit():
        raise ValidationFailed("booking id must be an integer", fields={"booking_id": "must be an integer"})
    booking_id = int(booking_file)
    p = principal_of(request)
    async with db_session(request) as s:
        b = await service.get_booking(s, ente_id=p.ente_id, booking_id=booking_id)
        svc = await service.get_service(s, ente_id=p.ente_id, service_id=b.service_id)
        ente = await entes.get(s, p.ente_id)
    cal = Calendar()
    cal.add("prodid", "-//Sportello URP//IT")
    cal.add("version", "2.0")
    ev = IcsEvent()
    ev.add("uid", f"{b.code}@{ente.slug}.sportello-urp")
    ev.add("summary", f"{svc.name} - {ente.name}")
    ev.add("dtstart", b.start)
    ev.add("dtend", b.end)
    ev.add("dtstamp", b.created_at)
    ev.add("description", f"Codice prenotazione {b.code}. {svc.what_to_bring}".strip())
    ev.add("status", "CANCELLED" if b.status == "cancelled" else "CONFIRMED")
    cal.add_component(ev)
    return raw(cal.to_ical(), content_type="text/calendar; charset=utf-8",
               headers={"Content-Disposition": f'attachment; filename="{b.code}.ics"'})


@bp.post("/bookings/<booking_id:int>/cancel")
@authorized(*BOOKERS)
@openapi(summary="Cancel (the bot respects the service's cancellation deadline)", body=CancelIn)
async def cancel(request: Request, booking_id: int) -> HTTPResponse:
    parse_body(request, CancelIn)
    p = principal_of(request)
    async with db_session(request) as s:
        b = await service.cancel(s, principal=p, booking_id=booking_id)
        await audit.record(s, principal=p, action="cancel", entity="booking", entity_id=b.id)
        return json_ok(booking_out(b, await _tz(s, p.ente_id)))


@bp.post("/bookings/<booking_id:int>/reschedule")
@authorized(*BOOKERS)
@openapi(summary="Move to another slot (the old booking is kept, cancelled, linked)", body=RescheduleIn)
async def reschedule(request: Request, booking_id: int) -> HTTPResponse:
    data = parse_body(request, RescheduleIn)
    p = principal_of(request)
    async with db_session(request) as s:
        b = await service.reschedule(s, principal=p, booking_id=booking_id, start=data.start,
                                     resource_id=data.resource_id)
        await audit.record(s, principal=p, action="reschedule", entity="booking", entity_id=b.id,
                           details={"from_booking": booking_id})
        return json_ok(booking_out(b, await _tz(s, p.ente_id)), status=201)


@bp.post("/bookings/<booking_id:int>/attended")
@authorized("admin", "operator", "phone_operator", "backoffice")
@openapi(summary="Mark attended")
async def attended(request: Request, booking_id: int) -> HTTPResponse:
    p = principal_of(request)
    async with db_session(request) as s:
        b = await service.mark(s, principal=p, booking_id=booking_id, status="attended")
        return json_ok(booking_out(b, await _tz(s, p.ente_id)))


@bp.post("/bookings/<booking_id:int>/no-show")
@authorized("admin", "operator", "phone_operator", "backoffice")
@openapi(summary="Mark no-show")
async def no_show(request: Request, booking_id: int) -> HTTPResponse:
    p = principal_of(request)
    async with db_session(request) as s:
        b = await service.mark(s, principal=p, booking_id=booking_id, status="no_show")
        return json_ok(booking_out(b, await _tz(s, p.ente_id)))

from __future__ import annotations

from datetime import date, datetime

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

from crm.bookings import commands, policies, service
from crm.bookings import ics as ical
from crm.bookings.models import Booking, Location
from crm.bookings.schemas import (
    AvailabilityQuery,
    BookingCancelledOut,
    BookingCreatedOut,
    BookingIn,
    BookingLookupOut,
    BookingOut,
    BookingQuery,
    CancelIn,
    DeletedOut,
    EventIn,
    EventOut,
    EventPatch,
    ExceptionIn,
    ExceptionOut,
    ExceptionQuery,
    HoursIn,
    HoursOut,
    HoursSetOut,
    IncludeInactiveQuery,
    IntervalIn,
    LocationIn,
    LocationOut,
    LocationPatch,
    RescheduleIn,
    ResourceChangeOut,
    ResourceIn,
    ResourceOut,
    ResourcePatch,
    ServiceDetailOut,
    ServiceIn,
    ServiceOut,
    ServicePatch,
    SlotOut,
)
from crm.core import lookup as citizen_lookup
from crm.core.auth import authorized, principal_of
from crm.core.commands import begin
from crm.core.errors import NotFound, ValidationFailed
from crm.core.http import ListOut, apply_sort, json_ok, page_params, paginate, parse_body, validate
from crm.core.openapi import openapi
from crm.db import read_session, utcnow
from crm.entes import service as entes

bp = Blueprint("bookings", url_prefix="/api/v1")
VIEWERS, ADMINS = policies.VIEW.roles, policies.MANAGE.roles


_tz = entes.timezone


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
@authorized(*VIEWERS)
@openapi(summary="Bookable services", response=ServiceOut, many="all", query=IncludeInactiveQuery)
async def list_services(request: Request) -> HTTPResponse:
    p = principal_of(request)
    everything = request.args.get("include_inactive") == "true" and p.role == "admin"
    async with read_session(request) as s:
        items = [
            ServiceOut.model_validate(x)
            for x in await service.list_services(s, ente_id=p.ente_id, include_inactive=everything)
        ]
    return json_ok(ListOut.of(items))


@bp.get("/services/<service_id:int>")
@authorized(*VIEWERS)
@openapi(summary="A service with its resources, weekly hours and upcoming exceptions", response=ServiceDetailOut)
async def get_service(request: Request, service_id: int) -> HTTPResponse:
    p = principal_of(request)
    async with read_session(request) as s:
        svc = await service.get_service(s, ente_id=p.ente_id, service_id=service_id)
        body = ServiceDetailOut(
            **ServiceOut.model_validate(svc).model_dump(),
            resource_ids=await service.service_resource_ids(s, svc.id),
            hours=[HoursOut.of(h) for h in await service.get_hours(s, ente_id=p.ente_id, service_id=svc.id)],
            exceptions=[
                ExceptionOut.of(e)
                for e in await service.list_exceptions(s, ente_id=p.ente_id, service_id=svc.id, d_from=date.today())
            ],
        )
    return json_ok(body)


@bp.patch("/services/<service_id:int>")
@authorized(*ADMINS)
@openapi(
    summary="Update a service (admins); resource_ids replaces the resources delivering it",
    body=ServicePatch,
    response=ServiceOut,
)
async def update_service(request: Request, service_id: int) -> HTTPResponse:
    data = parse_body(request, ServicePatch)
    async with begin(request) as cx:
        svc = await commands.update_service(cx, service_id=service_id, data=data)
    return json_ok(ServiceOut.model_validate(svc))


@bp.delete("/services/<service_id:int>")
@authorized(*ADMINS)
@openapi(summary="Withdraw a service from booking (kept for history; its confirmed bookings stay)", response=ServiceOut)
async def deactivate_service(request: Request, service_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        svc = await commands.set_service_active(cx, service_id=service_id, active=False)
    return json_ok(ServiceOut.model_validate(svc))


@bp.post("/services")
@authorized(*ADMINS)
@openapi(status=201, summary="Create a service (admins)", body=ServiceIn, response=ServiceOut)
async def create_service(request: Request) -> HTTPResponse:
    data = parse_body(request, ServiceIn)
    async with begin(request) as cx:
        svc = await commands.create_service(cx, data=data)
    return json_ok(ServiceOut.model_validate(svc), status=201)


@bp.put("/services/<service_id:int>/hours")
@authorized(*ADMINS)
@openapi(
    summary="Replace the weekly opening template: {hours: [{weekday, start, end}]}", body=HoursIn, response=HoursSetOut
)
async def set_hours(request: Request, service_id: int) -> HTTPResponse:
    data = parse_body(request, HoursIn)
    hours = [validate(IntervalIn, h) for h in data.hours]
    async with begin(request) as cx:
        await commands.set_hours(cx, service_id=service_id, hours=hours, resource_id=data.resource_id)
    return json_ok(HoursSetOut(hours=len(hours), resource_id=data.resource_id))


@bp.get("/services/<service_id:int>/hours")
@authorized(*VIEWERS)
@openapi(
    summary="The weekly template of a service and of resources with their own calendar", response=HoursOut, many="all"
)
async def get_hours(request: Request, service_id: int) -> HTTPResponse:
    async with read_session(request) as s:
        rows = await service.get_hours(s, ente_id=principal_of(request).ente_id, service_id=service_id)
    return json_ok(ListOut.of([HoursOut.of(h) for h in rows]))


@bp.get("/services/<service_id:int>/exceptions")
@authorized(*VIEWERS)
@openapi(
    summary="Closures and extra openings that apply to a service (from=YYYY-MM-DD optional)",
    response=ExceptionOut,
    many="all",
    query=ExceptionQuery,
)
async def list_exceptions(request: Request, service_id: int) -> HTTPResponse:
    d_from = _date(request, "from") if request.args.get("from") else None
    async with read_session(request) as s:
        rows = await service.list_exceptions(
            s, ente_id=principal_of(request).ente_id, service_id=service_id, d_from=d_from
        )
    return json_ok(ListOut.of([ExceptionOut.of(e) for e in rows]))


@bp.delete("/exceptions/<exception_id:int>")
@authorized(*ADMINS)
@openapi(summary="Remove a closure or extra opening", response=DeletedOut)
async def delete_exception(request: Request, exception_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        await commands.delete_exception(cx, exception_id=exception_id)
    return json_ok(DeletedOut(deleted=exception_id))


@bp.post("/services/<service_id:int>/exceptions")
@authorized(*ADMINS)
@openapi(status=201, summary="A closure or an extra opening on one date", body=ExceptionIn, response=ExceptionOut)
async def add_exception(request: Request, service_id: int) -> HTTPResponse:
    data = parse_body(request, ExceptionIn)
    async with begin(request) as cx:
        exc = await commands.add_exception(cx, service_id=service_id, data=data)
    return json_ok(ExceptionOut.of(exc), status=201)


@bp.post("/services/<service_id:int>/events")
@authorized(*ADMINS)
@openapi(status=201, summary="A capacity event with N seats", body=EventIn, response=EventOut)
async def add_event(request: Request, service_id: int) -> HTTPResponse:
    data = parse_body(request, EventIn)
    async with begin(request) as cx:
        ev = await commands.add_event(cx, service_id=service_id, data=data)
        tz = await _tz(cx.session, cx.ente_id)
    return json_ok(EventOut.of(ev, tz), status=201)


@bp.get("/services/<service_id:int>/events")
@authorized(*VIEWERS)
@openapi(summary="Events of a capacity service, with seats and bookings", response=EventOut, many="all")
async def list_events(request: Request, service_id: int) -> HTTPResponse:
    p = principal_of(request)
    async with read_session(request) as s:
        tz = await _tz(s, p.ente_id)
        items = [EventOut.of(e, tz) for e in await service.list_events(s, ente_id=p.ente_id, service_id=service_id)]
    return json_ok(ListOut.of(items))


@bp.patch("/events/<event_id:int>")
@authorized(*ADMINS)
@openapi(
    summary="Change an event: seats never below those booked; the time only while nobody booked",
    body=EventPatch,
    response=EventOut,
)
async def update_event(request: Request, event_id: int) -> HTTPResponse:
    data = parse_body(request, EventPatch)
    async with begin(request) as cx:
        ev = await commands.update_event(cx, event_id=event_id, data=data)
        tz = await _tz(cx.session, cx.ente_id)
    return json_ok(EventOut.of(ev, tz))


@bp.delete("/events/<event_id:int>")
@authorized(*ADMINS)
@openapi(summary="Delete an event nobody has booked (409 otherwise)", response=DeletedOut)
async def delete_event(request: Request, event_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        await commands.delete_event(cx, event_id=event_id)
    return json_ok(DeletedOut(deleted=event_id))


@bp.post("/locations")
@authorized(*ADMINS)
@openapi(status=201, summary="A location (sede)", body=LocationIn, response=LocationOut)
async def create_location(request: Request) -> HTTPResponse:
    data = parse_body(request, LocationIn)
    async with begin(request) as cx:
        loc = await commands.create_location(cx, data=data)
    return json_ok(LocationOut.model_validate(loc), status=201)


@bp.get("/locations")
@authorized(*VIEWERS)
@openapi(summary="Locations (sedi)", response=LocationOut, many="all")
async def list_locations(request: Request) -> HTTPResponse:
    async with read_session(request) as s:
        items = [
            LocationOut.model_validate(x)
            for x in await service.list_locations(s, ente_id=principal_of(request).ente_id)
        ]
    return json_ok(ListOut.of(items))


@bp.patch("/locations/<location_id:int>")
@authorized(*ADMINS)
@openapi(summary="Rename a location or change its address", body=LocationPatch, response=LocationOut)
async def update_location(request: Request, location_id: int) -> HTTPResponse:
    data = parse_body(request, LocationPatch)
    async with begin(request) as cx:
        loc = await commands.update_location(cx, location_id=location_id, data=data)
    return json_ok(LocationOut.model_validate(loc))


@bp.delete("/locations/<location_id:int>")
@authorized(*ADMINS)
@openapi(summary="Delete an unused location (409 when resources, events or bookings use it)", response=DeletedOut)
async def delete_location(request: Request, location_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        await commands.delete_location(cx, location_id=location_id)
    return json_ok(DeletedOut(deleted=location_id))


@bp.post("/resources")
@authorized(*ADMINS)
@openapi(status=201, summary="A resource (official, room, counter)", body=ResourceIn, response=ResourceOut)
async def create_resource(request: Request) -> HTTPResponse:
    data = parse_body(request, ResourceIn)
    async with begin(request) as cx:
        res = await commands.create_resource(cx, data=data)
    return json_ok(ResourceOut.model_validate(res), status=201)


@bp.get("/resources")
@authorized(*VIEWERS)
@openapi(
    summary="Resources (officials, rooms, counters); include_inactive=true for admins",
    response=ResourceOut,
    many="all",
    query=IncludeInactiveQuery,
)
async def list_resources(request: Request) -> HTTPResponse:
    p = principal_of(request)
    everything = request.args.get("include_inactive") == "true" and p.role == "admin"
    async with read_session(request) as s:
        items = [
            ResourceOut.model_validate(x)
            for x in await service.list_resources(s, ente_id=p.ente_id, include_inactive=everything)
        ]
    return json_ok(ListOut.of(items))


@bp.patch("/resources/<resource_id:int>")
@authorized(*ADMINS)
@openapi(summary="Rename, move or (de)activate a resource", body=ResourcePatch, response=ResourceChangeOut)
async def update_resource(request: Request, resource_id: int) -> HTTPResponse:
    data = parse_body(request, ResourcePatch)
    async with begin(request) as cx:
        res, upcoming = await commands.update_resource(cx, resource_id=resource_id, data=data)
    return json_ok(ResourceChangeOut(**ResourceOut.model_validate(res).model_dump(), upcoming_bookings=upcoming))


@bp.delete("/resources/<resource_id:int>")
@authorized(*ADMINS)
@openapi(
    summary="Deactivate a resource: no new slots; says how many confirmed bookings still need moving",
    response=ResourceChangeOut,
)
async def deactivate_resource(request: Request, resource_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        res, upcoming = await commands.set_resource_active(cx, resource_id=resource_id, active=False)
    return json_ok(ResourceChangeOut(**ResourceOut.model_validate(res).model_dump(), upcoming_bookings=upcoming))


@bp.get("/services/<service_id:int>/availability")
@authorized(*VIEWERS)
@openapi(
    summary="Free slots: from=YYYY-MM-DD&to=YYYY-MM-DD[&location=][&resource=][&duration=minutes] "
    "(Europe/Rome, with offsets; at most 92 days)",
    response=SlotOut,
    many="all",
    query=AvailabilityQuery,
)
async def availability(request: Request, service_id: int) -> HTTPResponse:
    d_from, d_to = _date(request, "from"), _date(request, "to")
    async with read_session(request) as s:
        slots = await service.availability(
            s,
            ente_id=principal_of(request).ente_id,
            service_id=service_id,
            d_from=d_from,
            d_to=d_to,
            location_id=_opt_int(request, "location"),
            resource_id=_opt_int(request, "resource"),
            duration_minutes=_opt_int(request, "duration"),
        )
    return json_ok(ListOut.of([SlotOut.of(x).model_dump(mode="json", exclude_none=True) for x in slots]))


@bp.post("/bookings")
@authorized(*policies.BOOK.roles)
@openapi(
    summary="Book a slot (Idempotency-Key header honoured): 201, 409 slot taken, 422 constraint. Resource "
    "calendars also take duration_minutes and repeat {frequency, count}: a series is all or nothing",
    body=BookingIn,
    response=BookingCreatedOut,
    status=(200, 201),
)
async def create_booking(request: Request) -> HTTPResponse:
    data = parse_body(request, BookingIn)
    key = request.headers.get("idempotency-key")
    if key is not None and not (1 <= len(key) <= 100):
        raise ValidationFailed("Idempotency-Key must be 1-100 characters", fields={"Idempotency-Key": "invalid"})
    async with begin(request) as cx:
        b, created = await commands.book(cx, data=data, idempotency_key=key)
        s = cx.session
        svc = await service.get_service(s, ente_id=cx.ente_id, service_id=b.service_id)
        tz = await _tz(s, cx.ente_id)
        series = (
            [BookingOut.of(x, tz, svc.name) for x in await service.series(s, ente_id=cx.ente_id, series_id=b.series_id)]
            if b.series_id
            else None
        )
        body = BookingCreatedOut(
            **BookingOut.of(b, tz, svc.name).model_dump(), what_to_bring=svc.what_to_bring, series=series
        )
    return json_ok(body, status=201 if created else 200)


@bp.get("/bookings")
@authorized(*VIEWERS)
@openapi(
    summary="Bookings: contact_id=, service_id=, status=, from=, to=",
    response=BookingOut,
    many=True,
    query=BookingQuery,
)
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

    stmt = service.list_stmt(
        ente_id=p.ente_id,
        contact_id=_opt_int(request, "contact_id"),
        service_id=_opt_int(request, "service_id"),
        status=request.args.get("status"),
        d_from=dt("from"),
        d_to=dt("to"),
    )
    stmt = apply_sort(stmt, page, {"start": Booking.start, "created_at": Booking.created_at}, [Booking.start])
    async with read_session(request) as s:
        tz = await _tz(s, p.ente_id)
        names = {x.id: x.name for x in await service.list_services(s, ente_id=p.ente_id)}
        return json_ok(await paginate(s, stmt, page, lambda b: BookingOut.of(b, tz, names.get(b.service_id))))


@bp.post("/bookings/lookup")
@authorized(*policies.LOOKUP.roles)
@openapi(
    summary="Citizen look-up of a booking: code + second factor (last 4+ phone digits or fiscal code, of the "
    "contact or given in the booking form), e.g. to cancel it from a channel that is not the citizen's "
    "own. Failures are throttled across replicas per code (5 / 15 min) and, with an X-Citizen-Key "
    "header, per caller (20 / 15 min, shared with the istanze look-up): 429 with Retry-After",
    body=citizen_lookup.LookupIn,
    response=BookingLookupOut,
)
async def lookup(request: Request) -> HTTPResponse:
    data = parse_body(request, citizen_lookup.LookupIn)
    found = None
    async with begin(request) as cx:
        b = await commands.lookup(
            cx, code=data.code, second_factor=data.second_factor, caller=citizen_lookup.caller_of(request.headers)
        )
        if b is not None:
            svc = await service.get_service(cx.session, ente_id=cx.ente_id, service_id=b.service_id)
            tz = await _tz(cx.session, cx.ente_id)
            deadline = service.cancel_deadline(b, svc)
            # what the citizen needs to recognise the booking and act on it; not the form's personal fields
            found = BookingLookupOut(
                id=b.id,
                code=b.code,
                service_id=b.service_id,
                service_name=svc.name,
                start=b.start.astimezone(tz).isoformat(),
                end=b.end.astimezone(tz).isoformat(),
                status=b.status,
                series_id=b.series_id,
                cancel_deadline=deadline.astimezone(tz).isoformat(),
                cancellable=b.status == "confirmed" and utcnow() <= deadline,
            )
    if found is None:
        raise NotFound("no booking matches this code and second factor")
    return json_ok(found)


@bp.get("/bookings/<booking_id:int>")
@authorized(*VIEWERS)
@openapi(summary="A booking", response=BookingOut)
async def get_booking(request: Request, booking_id: int) -> HTTPResponse:
    p = principal_of(request)
    async with read_session(request) as s:
        b = await service.get_booking(s, ente_id=p.ente_id, booking_id=booking_id)
        return json_ok(BookingOut.of(b, await _tz(s, p.ente_id)))


@bp.get("/bookings/<booking_file:ext=ics>")
@authorized(*VIEWERS)
@openapi(summary="The booking as an iCalendar file: /bookings/{id}.ics", media=("text/calendar",))
async def booking_ics(request: Request, booking_file: str, ext: str) -> HTTPResponse:
    if not booking_file.isdigit():
        raise ValidationFailed("booking id must be an integer", fields={"booking_id": "must be an integer"})
    booking_id = int(booking_file)
    p = principal_of(request)
    async with read_session(request) as s:
        b = await service.get_booking(s, ente_id=p.ente_id, booking_id=booking_id)
        svc = await service.get_service(s, ente_id=p.ente_id, service_id=b.service_id)
        ente = await entes.get(s, p.ente_id)
        place = await s.get(Location, b.location_id) if b.location_id else None
    body = ical.booking_ics(b, svc, ente_name=ente.name, ente_slug=ente.slug, place=place)
    return raw(
        body,
        content_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{b.code}.ics"'},
    )


@bp.post("/bookings/<booking_id:int>/cancel")
@authorized(*policies.BOOK.roles)
@openapi(
    summary="Cancel (the bot respects the service's cancellation deadline); series=true also cancels the "
    "later bookings of its series",
    body=CancelIn,
    response=BookingCancelledOut,
)
async def cancel(request: Request, booking_id: int) -> HTTPResponse:
    data = parse_body(request, CancelIn)
    async with begin(request) as cx:
        done = await commands.cancel(cx, booking_id=booking_id, reason=data.reason, whole_series=data.series)
        tz = await _tz(cx.session, cx.ente_id)
    return json_ok(
        BookingCancelledOut(
            **BookingOut.of(done[0], tz).model_dump(),
            cancelled=[BookingOut.of(b, tz) for b in done] if data.series else None,
        )
    )


@bp.post("/bookings/<booking_id:int>/reschedule")
@authorized(*policies.BOOK.roles)
@openapi(
    status=201,
    summary="Move to another slot (the old booking is kept, cancelled, linked)",
    body=RescheduleIn,
    response=BookingOut,
)
async def reschedule(request: Request, booking_id: int) -> HTTPResponse:
    data = parse_body(request, RescheduleIn)
    async with begin(request) as cx:
        b = await commands.reschedule(cx, booking_id=booking_id, start=data.start, resource_id=data.resource_id)
        tz = await _tz(cx.session, cx.ente_id)
    return json_ok(BookingOut.of(b, tz), status=201)


@bp.post("/bookings/<booking_id:int>/attended")
@authorized(*policies.MARK.roles)
@openapi(summary="Mark attended", response=BookingOut)
async def attended(request: Request, booking_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        b = await commands.mark_attended(cx, booking_id=booking_id)
        tz = await _tz(cx.session, cx.ente_id)
    return json_ok(BookingOut.of(b, tz))


@bp.post("/bookings/<booking_id:int>/no-show")
@authorized(*policies.MARK.roles)
@openapi(summary="Mark no-show", response=BookingOut)
async def no_show(request: Request, booking_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        b = await commands.mark_no_show(cx, booking_id=booking_id)
        tz = await _tz(cx.session, cx.ente_id)
    return json_ok(BookingOut.of(b, tz))

"""Every change to the booking centre, one function each: permission, service call, audit line, live event.

The API (``crm/bookings/api.py``), the console's desk, intake and administration screens and the assistant (through
the API) all come here; see ``crm/core/commands.py`` for the pattern.
"""

from __future__ import annotations

from datetime import datetime

from crm.bookings import policies
from crm.bookings import service as svc
from crm.bookings.models import Booking, DateException, Event, Location, Resource, Service
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
from crm.core import lookup as citizen_lookup
from crm.core.commands import Context, command
from crm.core.errors import NotFound


# --- services and their calendars (admins) ------------------------------------------------------------------------
@command(policies.MANAGE)
async def create_service(cx: Context, *, data: ServiceIn) -> Service:
    service = await svc.create_service(cx.session, ente_id=cx.ente_id, data=data)
    await cx.record("create", "service", service.id, details={"slug": data.slug, "resource_ids": data.resource_ids})
    return service


@command(policies.MANAGE)
async def update_service(cx: Context, *, service_id: int, data: ServicePatch) -> Service:
    service = await svc.update_service(cx.session, ente_id=cx.ente_id, service_id=service_id, data=data)
    await cx.record("update", "service", service.id, details={"fields": sorted(data.model_dump(exclude_unset=True))})
    return service


@command(policies.MANAGE)
async def set_service_active(cx: Context, *, service_id: int, active: bool) -> Service:
    """Withdraw a service from booking (kept for history; its confirmed bookings stay) or offer it again."""
    service = await svc.update_service(
        cx.session, ente_id=cx.ente_id, service_id=service_id, data=ServicePatch(active=active)
    )
    await cx.record("activate" if active else "deactivate", "service", service.id)
    return service


@command(policies.MANAGE)
async def set_hours(cx: Context, *, service_id: int, hours: list[IntervalIn], resource_id: int | None) -> None:
    """Replace the weekly template of a service, or of one resource (an empty list: back to the service's)."""
    await svc.set_hours(cx.session, ente_id=cx.ente_id, service_id=service_id, hours=hours, resource_id=resource_id)
    await cx.record(
        "update", "service_hours", service_id, details={"resource_id": resource_id, "intervals": len(hours)}
    )


@command(policies.MANAGE)
async def add_exception(cx: Context, *, service_id: int, data: ExceptionIn) -> DateException:
    x = await svc.add_exception(cx.session, ente_id=cx.ente_id, service_id=service_id, data=data)
    await cx.record(
        "create",
        "booking_exception",
        x.id,
        details={
            "service_id": service_id,
            "day": data.day.isoformat(),
            "closed": data.closed,
            "all_services": data.all_services,
            "resource_id": data.resource_id,
        },
    )
    return x


@command(policies.MANAGE)
async def delete_exception(cx: Context, *, exception_id: int) -> None:
    await svc.delete_exception(cx.session, ente_id=cx.ente_id, exception_id=exception_id)
    await cx.record("delete", "booking_exception", exception_id)


async def _event_of(cx: Context, event_id: int, service_id: int | None) -> Event:
    ev = await svc.get_event(cx.session, ente_id=cx.ente_id, event_id=event_id)
    if service_id is not None and ev.service_id != service_id:
        raise NotFound("event not found")
    return ev


@command(policies.MANAGE)
async def add_event(cx: Context, *, service_id: int, data: EventIn) -> Event:
    ev = await svc.add_event(cx.session, ente_id=cx.ente_id, service_id=service_id, data=data)
    await cx.record("create", "booking_event", ev.id, details={"service_id": service_id, "seats": data.seats})
    return ev


@command(policies.MANAGE)
async def update_event(cx: Context, *, event_id: int, data: EventPatch, service_id: int | None = None) -> Event:
    """``service_id``: the service the caller believes the event belongs to (the console's page), checked."""
    await _event_of(cx, event_id, service_id)
    ev = await svc.update_event(cx.session, ente_id=cx.ente_id, event_id=event_id, data=data)
    changed = data.model_dump(exclude_unset=True)
    await cx.record(
        "update",
        "booking_event",
        ev.id,
        details={"fields": sorted(changed), **({"seats": data.seats} if "seats" in changed else {})},
    )
    return ev


@command(policies.MANAGE)
async def delete_event(cx: Context, *, event_id: int, service_id: int | None = None) -> None:
    await _event_of(cx, event_id, service_id)
    await svc.delete_event(cx.session, ente_id=cx.ente_id, event_id=event_id)
    await cx.record("delete", "booking_event", event_id)


# --- locations and resources (admins) -----------------------------------------------------------------------------
@command(policies.MANAGE)
async def create_location(cx: Context, *, data: LocationIn) -> Location:
    loc = await svc.create_location(cx.session, ente_id=cx.ente_id, data=data)
    await cx.record("create", "location", loc.id)
    return loc


@command(policies.MANAGE)
async def update_location(cx: Context, *, location_id: int, data: LocationPatch) -> Location:
    loc = await svc.update_location(cx.session, ente_id=cx.ente_id, location_id=location_id, data=data)
    await cx.record("update", "location", loc.id, details={"fields": sorted(data.model_dump(exclude_unset=True))})
    return loc


@command(policies.MANAGE)
async def delete_location(cx: Context, *, location_id: int) -> None:
    await svc.delete_location(cx.session, ente_id=cx.ente_id, location_id=location_id)
    await cx.record("delete", "location", location_id)


@command(policies.MANAGE)
async def create_resource(cx: Context, *, data: ResourceIn) -> Resource:
    res = await svc.create_resource(cx.session, ente_id=cx.ente_id, data=data)
    await cx.record("create", "resource", res.id)
    return res


@command(policies.MANAGE)
async def update_resource(cx: Context, *, resource_id: int, data: ResourcePatch) -> tuple[Resource, int]:
    """Returns the resource and how many confirmed future bookings it still has (to move, when deactivated)."""
    res = await svc.update_resource(cx.session, ente_id=cx.ente_id, resource_id=resource_id, data=data)
    upcoming = await svc.upcoming_bookings_of_resource(cx.session, res.id)
    changed = data.model_dump(exclude_unset=True)
    if set(changed) == {"active"}:
        await cx.record(
            "activate" if data.active else "deactivate", "resource", res.id, details={"upcoming_bookings": upcoming}
        )
    else:
        await cx.record("update", "resource", res.id, details={"fields": sorted(changed)})
    return res, upcoming


@command(policies.MANAGE)
async def set_resource_active(cx: Context, *, resource_id: int, active: bool) -> tuple[Resource, int]:
    """Deactivate a resource (no new slots; its confirmed bookings stay for an operator to move) or bring it back."""
    return await update_resource(cx, resource_id=resource_id, data=ResourcePatch(active=active))


# --- bookings -----------------------------------------------------------------------------------------------------
@command(policies.BOOK)
async def book(cx: Context, *, data: BookingIn, idempotency_key: str | None = None) -> tuple[Booking, bool]:
    """Book for ``data.contact_id`` (a citizen only for themselves). Returns (booking, created): a repeated
    Idempotency-Key returns the first booking and changes nothing."""
    cx.allow(policies.BOOK, owner=data.contact_id)
    booking, created = await svc.book(cx.session, principal=cx.principal, data=data, idempotency_key=idempotency_key)
    if created:
        await cx.record(
            "create",
            "booking",
            booking.id,
            details={
                "contact_id": booking.contact_id,
                "on_behalf": booking.on_behalf,
                "channel": booking.channel,
                **({"series_id": booking.series_id} if booking.series_id else {}),
            },
        )
    return booking, created


@command(policies.CANCEL)
async def cancel(
    cx: Context, *, booking_id: int, reason: str | None = None, whole_series: bool = False
) -> list[Booking]:
    """Cancel a booking (or it and the later ones of its series); citizens and the assistant within the service's
    deadline, operators at any time. Returns what was cancelled."""
    target = await svc.get_booking(cx.session, ente_id=cx.ente_id, booking_id=booking_id)
    cx.allow(policies.CANCEL, owner=target.contact_id)
    done = await svc.cancel(cx.session, principal=cx.principal, booking_id=booking_id, whole_series=whole_series)
    for b in done:
        await cx.record("cancel", "booking", b.id, details={"reason": reason} if reason else None)
    return done


@command(policies.RESCHEDULE)
async def reschedule(cx: Context, *, booking_id: int, start: datetime, resource_id: int | None = None) -> Booking:
    """Move to another slot: the old booking is kept, cancelled and linked from the new one."""
    target = await svc.get_booking(cx.session, ente_id=cx.ente_id, booking_id=booking_id)
    cx.allow(policies.RESCHEDULE, owner=target.contact_id)
    new = await svc.reschedule(
        cx.session, principal=cx.principal, booking_id=booking_id, start=start, resource_id=resource_id
    )
    await cx.record(
        "reschedule", "booking", new.id, details={"from_booking": booking_id}, event={"from_booking": booking_id}
    )
    return new


@command(policies.MARK)
async def mark_attended(cx: Context, *, booking_id: int) -> Booking:
    b = await svc.mark(cx.session, principal=cx.principal, booking_id=booking_id, status="attended")
    await cx.record("attended", "booking", b.id)
    return b


@command(policies.MARK)
async def mark_no_show(cx: Context, *, booking_id: int) -> Booking:
    b = await svc.mark(cx.session, principal=cx.principal, booking_id=booking_id, status="no_show")
    await cx.record("no_show", "booking", b.id)
    return b


# --- audited reads --------------------------------------------------------------------------------------------------
@command(policies.LOOKUP)
async def lookup(cx: Context, *, code: str, second_factor: str, caller: str | None = None) -> Booking | None:
    """A citizen's booking by code plus a second factor, throttled per code and per caller; a miss is counted (in
    this transaction: the caller answers 404 after it commits) and gives None. A hit is in the audit log."""
    limits = citizen_lookup.limits("bookings", cx.ente_id, code, caller)
    b = await citizen_lookup.throttled(
        cx.session, limits, lambda: svc.lookup(cx.session, ente_id=cx.ente_id, code=code, factor=second_factor)
    )
    if b is not None:
        await cx.read("lookup", "booking", b.id)
    return b

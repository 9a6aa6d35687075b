"""Parity scenarios of the booking centre: every API route and console form that changes it."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from tests.parity.harness import Harness, Perform, scenario

_phones = itertools.count(1)


# --- set-ups through the services (no audit line, no event) ----------------------------------------------------------
def place(h: Harness) -> tuple[int, int]:
    from crm.bookings import service as bk
    from crm.bookings.schemas import LocationIn, ResourceIn

    async def work(s: Any) -> tuple[int, int]:
        loc = await bk.create_location(s, ente_id=h.ente.ente_id, data=LocationIn(name="Municipio", address="Via 1"))
        res = await bk.create_resource(s, ente_id=h.ente.ente_id, data=ResourceIn(name="Sportello", location_id=loc.id))
        return loc.id, res.id

    return h.setup(work)


def service(h: Harness, kind: str = "multi_resource") -> dict[str, int]:
    """A service open every day, all day, bookable from now on."""
    from crm.bookings import service as bk
    from crm.bookings.schemas import IntervalIn, ServiceIn

    loc, res = place(h)

    async def work(s: Any) -> int:
        svc = await bk.create_service(
            s,
            ente_id=h.ente.ente_id,
            data=ServiceIn(
                slug=h.unique("svc"),
                code_prefix="PA",
                name="Servizio di prova",
                kind=kind,  # type: ignore[arg-type]
                resource_ids=[res],
                min_notice_hours=0,
                max_active_per_citizen=10,
                max_per_day_per_citizen=10,
            ),
        )
        if kind != "capacity":
            await bk.set_hours(
                s,
                ente_id=h.ente.ente_id,
                service_id=svc.id,
                resource_id=None,
                hours=[IntervalIn(weekday=d, start="00:00", end="23:40") for d in range(7)],
            )
        return svc.id

    return {"id": h.setup(work), "location_id": loc, "resource_id": res}


def contact(h: Harness) -> int:
    from crm.contacts import service as contacts
    from crm.contacts.schemas import ContactIn

    async def work(s: Any) -> int:
        c = await contacts.create(
            s,
            ente_id=h.ente.ente_id,
            data=ContactIn(first_name="Ada", last_name="Parità", phones=[f"+39 345 {next(_phones):07d}"]),
        )
        return c.id

    return h.setup(work)


def free_slots(h: Harness, svc: dict[str, int]) -> list[Any]:
    from crm.bookings import service as bk
    from crm.db import utcnow

    async def work(s: Any) -> list[Any]:
        today = utcnow().date()
        return await bk.availability(
            s,
            ente_id=h.ente.ente_id,
            service_id=svc["id"],
            d_from=today + timedelta(days=3),
            d_to=today + timedelta(days=10),
        )

    return h.setup(work)


def booking(h: Harness, *, started: bool = False) -> dict[str, Any]:
    """A confirmed booking of a fresh service; ``started``: its time has come (to mark attended or no-show)."""
    from crm.bookings import service as bk
    from crm.bookings.schemas import BookingIn
    from crm.db import utcnow

    svc = service(h)
    cid = contact(h)
    slot = free_slots(h, svc)[0]

    async def work(s: Any) -> int:
        b, _ = await bk.book(
            s,
            principal=h.principal("admin"),
            idempotency_key=None,
            data=BookingIn(service_id=svc["id"], start=slot.start, contact_id=cid, location_id=slot.location_id),
        )
        if started:
            b.start, b.end = utcnow() - timedelta(minutes=30), utcnow() - timedelta(minutes=10)
        return b.id

    return {"id": h.setup(work), "service": svc, "contact_id": cid}


def capacity_event(h: Harness) -> dict[str, int]:
    from crm.bookings import service as bk
    from crm.bookings.schemas import EventIn
    from crm.db import utcnow

    svc = service(h, kind="capacity")
    start = (utcnow() + timedelta(days=5)).replace(minute=0, second=0, microsecond=0)

    async def work(s: Any) -> int:
        ev = await bk.add_event(
            s,
            ente_id=h.ente.ente_id,
            service_id=svc["id"],
            data=EventIn(
                title="Incontro", location_id=svc["location_id"], start=start, end=start + timedelta(hours=1), seats=10
            ),
        )
        return ev.id

    return {"id": h.setup(work), "service_id": svc["id"]}


def closure(h: Harness, svc: dict[str, int]) -> int:
    from crm.bookings import service as bk
    from crm.bookings.schemas import ExceptionIn
    from crm.db import utcnow

    async def work(s: Any) -> int:
        x = await bk.add_exception(
            s,
            ente_id=h.ente.ente_id,
            service_id=svc["id"],
            data=ExceptionIn(day=utcnow().date() + timedelta(days=20), note="Chiuso"),
        )
        return x.id

    return h.setup(work)


def service_body(h: Harness) -> dict[str, Any]:
    loc, res = place(h)
    return {"slug": h.unique("svc"), "code_prefix": "PB", "name": "Passaporto", "resource_ids": [res]}


# --- API ------------------------------------------------------------------------------------------------------------
@scenario("POST", "/api/v1/services", "admin")
def api_create_service(h: Harness) -> Perform:
    return h.api("POST", "/api/v1/services", "admin", json=service_body(h))


@scenario("PATCH", "/api/v1/services/<service_id:int>", "admin")
def api_update_service(h: Harness) -> Perform:
    return h.api("PATCH", f"/api/v1/services/{service(h)['id']}", "admin", json={"name": "Nuovo nome"})


@scenario("DELETE", "/api/v1/services/<service_id:int>", "admin")
def api_deactivate_service(h: Harness) -> Perform:
    return h.api("DELETE", f"/api/v1/services/{service(h)['id']}", "admin")


@scenario("PUT", "/api/v1/services/<service_id:int>/hours", "admin")
def api_set_hours(h: Harness) -> Perform:
    return h.api(
        "PUT",
        f"/api/v1/services/{service(h)['id']}/hours",
        "admin",
        json={"hours": [{"weekday": 0, "start": "09:00", "end": "12:00"}]},
    )


@scenario("POST", "/api/v1/services/<service_id:int>/exceptions", "admin")
def api_add_exception(h: Harness) -> Perform:
    return h.api(
        "POST",
        f"/api/v1/services/{service(h)['id']}/exceptions",
        "admin",
        json={"day": "2030-01-02", "closed": True, "note": "Inventario"},
    )


@scenario("DELETE", "/api/v1/exceptions/<exception_id:int>", "admin")
def api_delete_exception(h: Harness) -> Perform:
    return h.api("DELETE", f"/api/v1/exceptions/{closure(h, service(h))}", "admin")


@scenario("POST", "/api/v1/services/<service_id:int>/events", "admin")
def api_add_event(h: Harness) -> Perform:
    svc = service(h, kind="capacity")
    return h.api(
        "POST",
        f"/api/v1/services/{svc['id']}/events",
        "admin",
        json={
            "title": "Serata",
            "location_id": svc["location_id"],
            "seats": 30,
            "start": "2030-03-01T18:00:00+01:00",
            "end": "2030-03-01T20:00:00+01:00",
        },
    )


@scenario("PATCH", "/api/v1/events/<event_id:int>", "admin")
def api_update_event(h: Harness) -> Perform:
    return h.api("PATCH", f"/api/v1/events/{capacity_event(h)['id']}", "admin", json={"seats": 20})


@scenario("DELETE", "/api/v1/events/<event_id:int>", "admin")
def api_delete_event(h: Harness) -> Perform:
    return h.api("DELETE", f"/api/v1/events/{capacity_event(h)['id']}", "admin")


@scenario("POST", "/api/v1/locations", "admin")
def api_create_location(h: Harness) -> Perform:
    return h.api("POST", "/api/v1/locations", "admin", json={"name": "Delegazione"})


@scenario("PATCH", "/api/v1/locations/<location_id:int>", "admin")
def api_update_location(h: Harness) -> Perform:
    return h.api("PATCH", f"/api/v1/locations/{place(h)[0]}", "admin", json={"address": "Piazza Grande 1"})


@scenario("DELETE", "/api/v1/locations/<location_id:int>", "admin")
def api_delete_location(h: Harness) -> Perform:
    from crm.bookings import service as bk
    from crm.bookings.schemas import LocationIn

    async def work(s: Any) -> int:
        return (await bk.create_location(s, ente_id=h.ente.ente_id, data=LocationIn(name="Vuota"))).id

    return h.api("DELETE", f"/api/v1/locations/{h.setup(work)}", "admin")


@scenario("POST", "/api/v1/resources", "admin")
def api_create_resource(h: Harness) -> Perform:
    return h.api("POST", "/api/v1/resources", "admin", json={"name": "Sportello 2", "location_id": place(h)[0]})


@scenario("PATCH", "/api/v1/resources/<resource_id:int>", "admin")
def api_update_resource(h: Harness) -> Perform:
    return h.api("PATCH", f"/api/v1/resources/{place(h)[1]}", "admin", json={"name": "Sportello A"})


@scenario("DELETE", "/api/v1/resources/<resource_id:int>", "admin")
def api_deactivate_resource(h: Harness) -> Perform:
    return h.api("DELETE", f"/api/v1/resources/{place(h)[1]}", "admin")


@scenario("POST", "/api/v1/bookings", "service")
def api_book(h: Harness) -> Perform:
    svc, cid = service(h), contact(h)
    slot = free_slots(h, svc)[0]
    return h.api(
        "POST",
        "/api/v1/bookings",
        "service",
        json={
            "service_id": svc["id"],
            "contact_id": cid,
            "start": slot.start.isoformat(),
            "location_id": slot.location_id,
        },
    )


@scenario("POST", "/api/v1/bookings/<booking_id:int>/cancel", "service")
def api_cancel(h: Harness) -> Perform:
    return h.api("POST", f"/api/v1/bookings/{booking(h)['id']}/cancel", "service", json={"reason": "imprevisto"})


@scenario("POST", "/api/v1/bookings/<booking_id:int>/reschedule", "phone_operator")
def api_reschedule(h: Harness) -> Perform:
    b = booking(h)
    slot = free_slots(h, b["service"])[1]
    return h.api(
        "POST", f"/api/v1/bookings/{b['id']}/reschedule", "phone_operator", json={"start": slot.start.isoformat()}
    )


@scenario("POST", "/api/v1/bookings/<booking_id:int>/attended", "backoffice")
def api_attended(h: Harness) -> Perform:
    return h.api("POST", f"/api/v1/bookings/{booking(h, started=True)['id']}/attended", "backoffice")


@scenario("POST", "/api/v1/bookings/<booking_id:int>/no-show", "operator")
def api_no_show(h: Harness) -> Perform:
    return h.api("POST", f"/api/v1/bookings/{booking(h, started=True)['id']}/no-show", "operator")


@scenario("POST", "/api/v1/bookings/lookup", "service", audit=1, events=0)
def api_lookup(h: Harness) -> Perform:
    from crm.bookings import service as bk

    b = booking(h)

    async def work(s: Any) -> tuple[str, str]:
        found = await bk.get_booking(s, ente_id=h.ente.ente_id, booking_id=b["id"])
        from crm.contacts import service as contacts

        c = await contacts.get(s, ente_id=h.ente.ente_id, contact_id=found.contact_id)
        return found.code, c.phones[0].e164[-4:]

    code, digits = h.setup(work)
    return h.api("POST", "/api/v1/bookings/lookup", "service", json={"code": code, "second_factor": digits})


# --- console: the desk (agenda) and the phone intake ----------------------------------------------------------------
@scenario("POST", "/console/bookings/<booking_id:int>/cancel", "phone_operator")
def console_cancel(h: Harness) -> Perform:
    return h.console(f"/console/bookings/{booking(h)['id']}/cancel", "phone_operator", {"reason": "ufficio chiuso"})


@scenario("POST", "/console/bookings/<booking_id:int>/attended", "backoffice")
def console_attended(h: Harness) -> Perform:
    return h.console(f"/console/bookings/{booking(h, started=True)['id']}/attended", "backoffice")


@scenario("POST", "/console/bookings/<booking_id:int>/no-show", "operator")
def console_no_show(h: Harness) -> Perform:
    return h.console(f"/console/bookings/{booking(h, started=True)['id']}/no-show", "operator")


@scenario("POST", "/console/bookings/<booking_id:int>/reschedule", "operator")
def console_reschedule(h: Harness) -> Perform:
    b = booking(h)
    slot = free_slots(h, b["service"])[1]
    return h.console(
        f"/console/bookings/{b['id']}/reschedule",
        "operator",
        {"slot": f"{slot.start.isoformat()}|{slot.resource_id or ''}|{slot.location_id or ''}"},
    )


@scenario("POST", "/console/intake/<cid:int>/book", "phone_operator")
def console_intake_book(h: Harness) -> Perform:
    svc, cid = service(h), contact(h)
    slot = free_slots(h, svc)[0]
    return h.console(
        f"/console/intake/{cid}/book",
        "phone_operator",
        {
            "service_id": svc["id"],
            "slot": f"{slot.start.isoformat()}|{slot.resource_id or ''}|{slot.location_id or ''}",
        },
    )


# --- console: bookings administration -------------------------------------------------------------------------------
@scenario("POST", "/console/bookings/services", "admin")
def console_create_service(h: Harness) -> Perform:
    body = service_body(h)
    return h.console(
        "/console/bookings/services",
        "admin",
        [
            ("name", body["name"]),
            ("slug", body["slug"]),
            ("code_prefix", "PC"),
            ("kind", "multi_resource"),
            ("resource_ids", str(body["resource_ids"][0])),
        ],
    )


@scenario("POST", "/console/bookings/services/<service_id:int>", "admin")
def console_update_service(h: Harness) -> Perform:
    svc = service(h)
    return h.console(
        f"/console/bookings/services/{svc['id']}",
        "admin",
        [("name", "Carta d'identità elettronica"), ("resource_ids", str(svc["resource_id"]))],
    )


@scenario("POST", "/console/bookings/services/<service_id:int>/active", "admin")
def console_service_active(h: Harness) -> Perform:
    return h.console(f"/console/bookings/services/{service(h)['id']}/active", "admin", {"active": "0"})


@scenario("POST", "/console/bookings/services/<service_id:int>/hours", "admin")
def console_hours(h: Harness) -> Perform:
    return h.console(
        f"/console/bookings/services/{service(h)['id']}/hours",
        "admin",
        [("weekday", "1"), ("start", "09:00"), ("end", "12:00")],
    )


@scenario("POST", "/console/bookings/services/<service_id:int>/exceptions", "admin")
def console_add_exception(h: Harness) -> Perform:
    return h.console(
        f"/console/bookings/services/{service(h)['id']}/exceptions",
        "admin",
        {"day": "2030-01-03", "closed": "1", "note": "Inventario"},
    )


@scenario("POST", "/console/bookings/services/<service_id:int>/exceptions/<exception_id:int>/delete", "admin")
def console_delete_exception(h: Harness) -> Perform:
    svc = service(h)
    return h.console(f"/console/bookings/services/{svc['id']}/exceptions/{closure(h, svc)}/delete", "admin")


@scenario("POST", "/console/bookings/services/<service_id:int>/events", "admin")
def console_add_event(h: Harness) -> Perform:
    svc = service(h, kind="capacity")
    return h.console(
        f"/console/bookings/services/{svc['id']}/events",
        "admin",
        {
            "title": "Serata",
            "location_id": svc["location_id"],
            "day": "2030-03-02",
            "start": "18:00",
            "end": "20:00",
            "seats": "25",
        },
    )


@scenario("POST", "/console/bookings/services/<service_id:int>/events/<event_id:int>/seats", "admin")
def console_event_seats(h: Harness) -> Perform:
    ev = capacity_event(h)
    return h.console(f"/console/bookings/services/{ev['service_id']}/events/{ev['id']}/seats", "admin", {"seats": "40"})


@scenario("POST", "/console/bookings/services/<service_id:int>/events/<event_id:int>/delete", "admin")
def console_delete_event(h: Harness) -> Perform:
    ev = capacity_event(h)
    return h.console(f"/console/bookings/services/{ev['service_id']}/events/{ev['id']}/delete", "admin")


@scenario("POST", "/console/bookings/locations", "admin")
def console_create_location(h: Harness) -> Perform:
    return h.console("/console/bookings/locations", "admin", {"name": "Delegazione Nord", "address": "Via 2"})


@scenario("POST", "/console/bookings/locations/<location_id:int>", "admin")
def console_update_location(h: Harness) -> Perform:
    return h.console(f"/console/bookings/locations/{place(h)[0]}", "admin", {"name": "Municipio", "address": "Via 3"})


@scenario("POST", "/console/bookings/resources", "admin")
def console_create_resource(h: Harness) -> Perform:
    return h.console("/console/bookings/resources", "admin", {"name": "Sportello 9", "location_id": place(h)[0]})


@scenario("POST", "/console/bookings/resources/<resource_id:int>", "admin")
def console_update_resource(h: Harness) -> Perform:
    loc, res = place(h)
    return h.console(f"/console/bookings/resources/{res}", "admin", {"name": "Sportello B", "location_id": loc})


@scenario("POST", "/console/bookings/resources/<resource_id:int>/active", "admin")
def console_resource_active(h: Harness) -> Perform:
    return h.console(f"/console/bookings/resources/{place(h)[1]}/active", "admin", {"active": "0"})

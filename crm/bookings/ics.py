"""A booking as an iCalendar file (RFC 5545): one builder for every door that hands one out (the API's
``/bookings/{id}.ics``, the sportello's confirmation and area personale), so a citizen's calendar gets the same event
whichever way it came. No HTTP here."""

from __future__ import annotations

from icalendar import Calendar, Event

from crm.bookings.models import Booking, Location, Service

PRODID = "-//Sportello URP//IT"


def booking_ics(b: Booking, svc: Service, *, ente_name: str, ente_slug: str, place: Location | None = None) -> bytes:
    """The event keeps one UID per booking code, so a moved or cancelled booking updates the entry already in the
    citizen's calendar instead of adding a second one."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    ev = Event()
    ev.add("uid", f"{b.code}@{ente_slug}.sportello-urp")
    ev.add("summary", f"{svc.name} - {ente_name}")
    ev.add("dtstart", b.start)
    ev.add("dtend", b.end)
    ev.add("dtstamp", b.created_at)
    if place is not None:
        ev.add("location", ", ".join(p for p in (place.name, place.address) if p))
    ev.add("description", f"Codice prenotazione {b.code}. {svc.what_to_bring}".strip())
    ev.add("status", "CANCELLED" if b.status == "cancelled" else "CONFIRMED")
    cal.add_component(ev)
    return bytes(cal.to_ical())

"""Free booking slots as the console shows them: the next days of a service, grouped by local day, one radio
button each; and the small parsers of the booking forms."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from crm.bookings import service as bookings
from crm.bookings.availability import wall_label
from crm.console.lookups import booking_places

BOOKING_DAYS = 7  # days of free slots per page


def as_int(raw: Any) -> int | None:
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


def _slot_value(slot: Any) -> str:
    return f"{slot.start.isoformat()}|{slot.resource_id or ''}|{slot.location_id or ''}"


async def slot_days(
    s: Any,
    *,
    ente_id: int,
    service_id: int,
    start_day: date,
    days: int,
    location_id: int | None,
) -> dict[str, Any]:
    """Free slots of the next days grouped by local day, with the sites that have any (for the site filter)."""
    svc = await bookings.get_service(s, ente_id=ente_id, service_id=service_id)
    slots = await bookings.availability(
        s, ente_id=ente_id, service_id=service_id, d_from=start_day, d_to=start_day + timedelta(days=days - 1)
    )
    loc_names, res_names = await booking_places(s, ente_id=ente_id)
    locations = sorted({x.location_id for x in slots if x.location_id is not None})
    several_sites = len(locations) > 1
    several_counters = len({x.resource_id for x in slots if x.resource_id is not None}) > 1
    grouped: dict[date, list[dict[str, Any]]] = {}
    for n, x in enumerate(slots):
        if location_id is not None and x.location_id != location_id:
            continue
        detail = []
        if several_counters and x.resource_id is not None:
            detail.append(res_names.get(x.resource_id, "Sportello"))
        if several_sites and x.location_id is not None:
            detail.append(loc_names.get(x.location_id, "Sede"))
        if svc.kind != "resource":
            detail.append("1 posto" if x.remaining == 1 else f"{x.remaining} posti")
        grouped.setdefault(x.start.date(), []).append(
            {
                "value": _slot_value(x),
                "time": wall_label(x.start, x.start.tzinfo),
                "end": wall_label(x.end, x.end.tzinfo),
                "detail": " · ".join(detail),
                "id": f"slot-{n}",
            }
        )
    return {
        "svc": svc,
        "days": sorted(grouped.items()),
        "locations": [(loc, loc_names.get(loc, f"Sede {loc}")) for loc in locations],
    }


def parse_slot(raw: str) -> tuple[datetime, int | None, int | None] | None:
    start_s, _, rest = raw.partition("|")
    res_s, _, loc_s = rest.partition("|")
    try:
        start = datetime.fromisoformat(start_s)
    except ValueError:
        return None
    if start.tzinfo is None:
        return None
    return start, as_int(res_s), as_int(loc_s)


def from_day(raw: str | None, today: date) -> date:
    try:
        d = date.fromisoformat(raw) if raw else today
    except ValueError:
        d = today
    return max(d, today)

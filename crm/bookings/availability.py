"""Free slots of a service, computed in the ente's time zone (so DST days come out right) from the weekly
template, date exceptions, Italian holidays and the patron-saint day, minus what is already booked."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crm.core.workhours import is_holiday


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    remaining: int
    resource_id: int | None = None
    location_id: int | None = None
    event_id: int | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"start": self.start.isoformat(), "end": self.end.isoformat(),
                                  "remaining": self.remaining}
        if self.resource_id is not None:
            out["resource_id"] = self.resource_id
        if self.location_id is not None:
            out["location_id"] = self.location_id
        if self.event_id is not None:
            out["event_id"] = self.event_id
        return out


def day_intervals(day: date, weekly: dict[int, list[tuple[time, time]]], exceptions: list,  # type: ignore[type-arg]
                  patron_day: tuple[int, int] | None) -> list[tuple[time, time]]:
    """Opening intervals of one day: closures win, extra openings add, holidays close the template."""
    todays = [e for e in exceptions if e.day == day]
    if any(e.closed for e in todays):
        return []
    extra = [(e.start, e.end) for e in todays if not e.closed and e.start and e.end]
    if is_holiday(day, patron_day):
        return sorted(extra)
    return sorted(weekly.get(day.weekday(), []) + extra)


def grid(day: date, intervals: list[tuple[time, time]], slot: int, before: int, after: int,
         tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """Slot starts on the grid: each slot takes buffer-before + duration + buffer-after inside an interval."""
    out = []
    step = timedelta(minutes=before + slot + after)
    for open_t, close_t in intervals:
        cursor = datetime.combine(day, open_t, tz)
        close = datetime.combine(day, close_t, tz)
        while cursor + step <= close:
            start = cursor + timedelta(minutes=before)
            out.append((start, start + timedelta(minutes=slot)))
            cursor += step
    return out


def free_slots(*, kind: str, days: list[date], weekly: dict[int, list[tuple[time, time]]], exceptions: list,  # type: ignore[type-arg]
               patron_day: tuple[int, int] | None, tz: ZoneInfo, slot: int, before: int, after: int,
               resources: list[tuple[int, int]], taken: set[tuple[int, datetime]], events: list,  # type: ignore[type-arg]
               earliest: datetime, latest: datetime) -> list[Slot]:
    """resources: (resource_id, location_id); taken: (resource_id, start) of confirmed bookings."""
    out: list[Slot] = []
    if kind == "capacity":
        for ev in events:
            if earliest <= ev.start <= latest and ev.seats - ev.booked > 0:
                out.append(Slot(ev.start.astimezone(tz), ev.end.astimezone(tz), ev.seats - ev.booked,
                                location_id=ev.location_id, event_id=ev.id))
        return sorted(out, key=lambda s: s.start)
    for day in days:
        for start, end in grid(day, day_intervals(day, weekly, exceptions, patron_day), slot, before, after, tz):
            if not earliest <= start <= latest:
                continue
            free = [(r, loc) for r, loc in resources if (r, start.astimezone(tz)) not in taken]
            if kind == "resource":
                out.extend(Slot(start, end, 1, resource_id=r, location_id=loc) for r, loc in free)
            elif free:
                by_loc: dict[int, int] = defaultdict(int)
                for _, loc in free:
                    by_loc[loc] += 1
                out.extend(Slot(start, end, n, location_id=loc) for loc, n in sorted(by_loc.items()))
    return out

"""Free slots of a service, computed in the ente's time zone (so DST days come out right) from each calendar's
weekly template, date exceptions, Italian holidays and the patron-saint day, minus what is already occupied.

A *calendar* is one resource's agenda for the service: the service's template unless the resource has its own
hours, with the exceptions that apply to it. Pure functions: the service layer loads rows, this computes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from crm.core.workhours import is_holiday

Weekly = dict[int, list[tuple[time, time]]]


@dataclass(slots=True)
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


@dataclass
class Calendar:
    resource_id: int
    location_id: int
    weekly: Weekly
    exceptions: list[Any] = field(default_factory=list)

    def key(self) -> tuple[Any, ...]:
        """Calendars with the same template and exceptions share one computed grid per day."""
        template = tuple(sorted((d, tuple(sorted(v))) for d, v in self.weekly.items()))
        return template, tuple(sorted(e.id for e in self.exceptions))


def day_intervals(day: date, weekly: Weekly, exceptions: list[Any],
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
         tz: ZoneInfo) -> list[tuple[datetime, datetime, int]]:
    """Slots on the grid as (start, end, interval index): each slot takes buffer-before + duration +
    buffer-after inside an interval. Wall-clock arithmetic in ``tz``, so a DST day has its real hours."""
    out = []
    step = timedelta(minutes=before + slot + after)
    lead, length = timedelta(minutes=before), timedelta(minutes=slot)
    for n, (open_t, close_t) in enumerate(intervals):
        cursor = datetime.combine(day, open_t, tz)
        last = datetime.combine(day, close_t, tz) - step
        while cursor <= last:
            start = cursor + lead
            out.append((start, start + length, n))
            cursor += step
    return out


def windows(slots: list[tuple[datetime, datetime, int]], count: int) -> list[tuple[datetime, datetime, list[datetime]]]:
    """Runs of ``count`` consecutive grid slots inside one opening interval: (start, end, the slot starts)."""
    if count == 1:
        return [(s, e, [s]) for s, e, _ in slots]
    out = []
    for i in range(len(slots) - count + 1):
        run = slots[i:i + count]
        if run[0][2] == run[-1][2]:
            out.append((run[0][0], run[-1][1], [s for s, _, _ in run]))
    return out


def _free(busy: list[tuple[datetime, datetime]] | None, start: datetime, end: datetime) -> bool:
    return not busy or all(e <= start or s >= end for s, e in busy)


def free_slots(*, kind: str, days: list[date], calendars: list[Calendar], patron_day: tuple[int, int] | None,
               tz: ZoneInfo, slot: int, before: int, after: int,
               busy: dict[tuple[int, date], list[tuple[datetime, datetime]]], events: list[Any],
               earliest: datetime, latest: datetime, slots_needed: int = 1) -> list[Slot]:
    """busy: occupied (start, end) per (resource_id, local day). Resource calendars list each free resource;
    multi-resource calendars list each start once per location with the number of free resources."""
    out: list[Slot] = []
    if kind == "capacity":
        for ev in events:
            if earliest <= ev.start <= latest and ev.seats - ev.booked > 0:
                out.append(Slot(ev.start.astimezone(tz), ev.end.astimezone(tz), ev.seats - ev.booked,
                                location_id=ev.location_id, event_id=ev.id))
        return sorted(out, key=lambda s: s.start)
    groups: dict[tuple[Any, ...], list[Calendar]] = defaultdict(list)
    for cal in calendars:
        groups[cal.key()].append(cal)
    earliest, latest = earliest.astimezone(tz), latest.astimezone(tz)  # same tzinfo as the grid: fast compares
    busy_days: dict[date, set[int]] = defaultdict(set)
    for rid, d in busy:
        busy_days[d].add(rid)
    multi = kind != "resource"
    for day in days:
        if not earliest.date() - timedelta(days=1) <= day <= latest.date() + timedelta(days=1):
            continue
        busy_today = busy_days.get(day, set())
        # start -> (end, free calendars) for resource calendars, (end, {location: free count}) otherwise
        per_start: dict[datetime, tuple[datetime, Any]] = {}
        for cals in groups.values():
            first = cals[0]
            runs = windows(grid(day, day_intervals(day, first.weekly, first.exceptions, patron_day), slot, before,
                                after, tz), slots_needed)
            quiet = [c for c in cals if c.resource_id not in busy_today]  # nothing booked today: free all day
            noisy = [c for c in cals if c.resource_id in busy_today]
            quiet_count: dict[int, int] = {}
            for c in quiet:
                quiet_count[c.location_id] = quiet_count.get(c.location_id, 0) + 1
            for start, end, _ in runs:
                if not earliest <= start <= latest:
                    continue
                free = [c for c in noisy if _free(busy[(c.resource_id, day)], start, end)] if noisy else []
                if multi:
                    counts: dict[int, int] = quiet_count
                    if free:
                        counts = dict(quiet_count)
                        for c in free:
                            counts[c.location_id] = counts.get(c.location_id, 0) + 1
                    if start in per_start:
                        merged = dict(per_start[start][1])
                        for loc, n in counts.items():
                            merged[loc] = merged.get(loc, 0) + n
                        counts = merged
                    if counts:
                        per_start[start] = (end, counts)
                else:
                    free = quiet + free
                    if free:
                        prev = per_start.get(start)
                        per_start[start] = (end, (prev[1] if prev else []) + free)
        for start in sorted(per_start):
            end, free_at = per_start[start]
            if multi:
                if len(free_at) == 1:
                    loc, n = next(iter(free_at.items()))
                    if n:
                        out.append(Slot(start, end, n, None, loc))
                else:
                    out.extend(Slot(start, end, n, None, loc) for loc, n in sorted(free_at.items()) if n)
            else:
                out.extend(Slot(start, end, 1, resource_id=c.resource_id, location_id=c.location_id)
                           for c in sorted(free_at, key=lambda c: c.resource_id))
    return out

"""Free slots of a service from each calendar's weekly template, date exceptions, Italian holidays and the
patron-saint day, minus what is already occupied.

Time is done in two steps so the clock changes come out right: opening hours are *wall-clock* times of a local day
(``instant`` turns them into absolute instants, deciding the DST gap and the repeated hour explicitly), and the slot
grid is laid out in *absolute* time (UTC), so every slot lasts exactly its duration, also across a change. Slots are
keyed and compared in UTC: two datetimes of the same ``ZoneInfo`` compare by wall clock and ignore ``fold``, so the
two 02:30 of the autumn night would otherwise be one.

A *calendar* is one resource's agenda for the service: the service's template unless the resource has its own
hours, with the exceptions that apply to it. Pure functions: the service layer loads rows, this computes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
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


def day_intervals(
    day: date, weekly: Weekly, exceptions: list[Any], patron_day: tuple[int, int] | None
) -> list[tuple[time, time]]:
    """Opening intervals of one day: closures win, extra openings add, holidays close the template."""
    todays = [e for e in exceptions if e.day == day]
    if any(e.closed for e in todays):
        return []
    extra = [(e.start, e.end) for e in todays if not e.closed and e.start and e.end]
    if is_holiday(day, patron_day):
        return sorted(extra)
    return sorted(weekly.get(day.weekday(), []) + extra)


def gap_or_fold(day: date, t: time, tz: tzinfo) -> str | None:
    """``"gap"`` if the clocks of ``tz`` skip ``t`` on ``day`` (spring forward), ``"fold"`` if they read it twice
    (fall back), None for an ordinary wall time."""
    first = datetime.combine(day, t.replace(fold=0, tzinfo=None), tz)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != first.replace(tzinfo=None):
        return "gap"
    if first.utcoffset() != first.replace(fold=1).utcoffset():
        return "fold"
    return None


def instant(day: date, t: time, tz: ZoneInfo) -> datetime:
    """The absolute instant (UTC) at which the clocks of ``tz`` read ``t`` on ``day``. The two DST cases, decided:

    - a wall time the clock skips (Rome, last Sunday of March, 02:00-02:59) is the moment the clock jumps (03:00
      summer time): an interval that opens or closes inside the gap loses the missing part, nothing more;
    - a wall time the clock reads twice (last Sunday of October, 02:00-02:59) is its first occurrence (summer
      time): an interval that spans the repeated hour lasts an hour longer, as the staff's night really does."""
    local = datetime.combine(day, t.replace(fold=0), tz)  # fold=0: the first occurrence of a repeated time
    if gap_or_fold(day, t, tz) != "gap":
        return local.astimezone(UTC)
    # inside the gap: the jump is the earliest instant whose wall time is not before t. With fold=0 a skipped time
    # converts with the offset before the change (too late), with fold=1 the one after (too early): the jump lies
    # between, found to the second (zone transitions are whole seconds).
    wall = local.replace(tzinfo=None)
    lo = int(local.replace(fold=1).timestamp())
    hi = int(local.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def exact_instant(day: date, t: time, tz: ZoneInfo, fold: int = 0) -> datetime | None:
    """The instant the clocks read ``t`` on ``day`` (``fold`` picks the occurrence of a repeated time), or None if
    the clocks skip it: for a citizen's chosen time, which must not silently move."""
    if gap_or_fold(day, t, tz) == "gap":
        return None
    return datetime.combine(day, t, tz).replace(fold=fold).astimezone(UTC)


def wall_label(at: datetime, tz: tzinfo | None, fmt: str = "%H:%M") -> str:
    """``at`` as the ente's clock shows it; in the repeated autumn hour the two readings are told apart
    ("02:30 (ora legale)", "02:30 (ora solare)"), so nobody picks or is told an ambiguous time."""
    local = at.astimezone(tz)
    text = local.strftime(fmt)
    if tz is None:
        return text
    if gap_or_fold(local.date(), local.time(), tz) == "fold":
        text += " (ora solare)" if local.fold else " (ora legale)"
    return text


def local_day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants at which the local ``day`` starts and the next one starts (23, 24 or 25 hours apart)."""
    return instant(day, time(0), tz), instant(day + timedelta(days=1), time(0), tz)


def grid(
    day: date, intervals: list[tuple[time, time]], slot: int, before: int, after: int, tz: ZoneInfo
) -> list[tuple[datetime, datetime, int]]:
    """Slots on the grid as (start, end, interval index), in UTC: each slot takes buffer-before + duration +
    buffer-after inside an interval. The interval's ends are wall-clock times turned into instants (``instant``);
    the grid steps in absolute time, so a slot never lasts more or less than its duration on a change day."""
    out = []
    step = timedelta(minutes=before + slot + after)
    lead, length = timedelta(minutes=before), timedelta(minutes=slot)
    for n, (open_t, close_t) in enumerate(intervals):
        cursor = instant(day, open_t, tz)
        last = instant(day, close_t, tz) - step
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
        run = slots[i : i + count]
        if run[0][2] == run[-1][2]:
            out.append((run[0][0], run[-1][1], [s for s, _, _ in run]))
    return out


def _free(busy: list[tuple[datetime, datetime]] | None, start: datetime, end: datetime) -> bool:
    return not busy or all(e <= start or s >= end for s, e in busy)


def free_slots(
    *,
    kind: str,
    days: list[date],
    calendars: list[Calendar],
    patron_day: tuple[int, int] | None,
    tz: ZoneInfo,
    slot: int,
    before: int,
    after: int,
    busy: dict[tuple[int, date], list[tuple[datetime, datetime]]],
    events: list[Any],
    earliest: datetime,
    latest: datetime,
    slots_needed: int = 1,
) -> list[Slot]:
    """busy: occupied (start, end) per (resource_id, local day). Resource calendars list each free resource;
    multi-resource calendars list each start once per location with the number of free resources. The slots come
    out in ``tz`` (their offset tells the two readings of a repeated hour apart), in order of absolute time."""
    out: list[Slot] = []
    if kind == "capacity":
        for ev in sorted(events, key=lambda ev: ev.start.astimezone(UTC)):
            if earliest <= ev.start <= latest and ev.seats - ev.booked > 0:
                out.append(
                    Slot(
                        ev.start.astimezone(tz),
                        ev.end.astimezone(tz),
                        ev.seats - ev.booked,
                        location_id=ev.location_id,
                        event_id=ev.id,
                    )
                )
        return out
    groups: dict[tuple[Any, ...], list[Calendar]] = defaultdict(list)
    for cal in calendars:
        groups[cal.key()].append(cal)
    earliest, latest = earliest.astimezone(UTC), latest.astimezone(UTC)  # same tzinfo as the grid: fast compares
    first_day, last_day = earliest.astimezone(tz).date(), latest.astimezone(tz).date()
    busy_days: dict[date, set[int]] = defaultdict(set)
    for rid, d in busy:
        busy_days[d].add(rid)
    multi = kind != "resource"
    for day in days:
        if not first_day <= day <= last_day:
            continue
        busy_today = busy_days.get(day, set())
        # start -> (end, free calendars) for resource calendars, (end, {location: free count}) otherwise
        per_start: dict[datetime, tuple[datetime, Any]] = {}
        for cals in groups.values():
            first = cals[0]
            runs = windows(
                grid(day, day_intervals(day, first.weekly, first.exceptions, patron_day), slot, before, after, tz),
                slots_needed,
            )
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
        for utc_start in sorted(per_start):
            utc_end, free_at = per_start[utc_start]
            start, end = utc_start.astimezone(tz), utc_end.astimezone(tz)
            if multi:
                if len(free_at) == 1:
                    loc, n = next(iter(free_at.items()))
                    if n:
                        out.append(Slot(start, end, n, None, loc))
                else:
                    out.extend(Slot(start, end, n, None, loc) for loc, n in sorted(free_at.items()) if n)
            else:
                out.extend(
                    Slot(start, end, 1, resource_id=c.resource_id, location_id=c.location_id)
                    for c in sorted(free_at, key=lambda c: c.resource_id)
                )
    return out

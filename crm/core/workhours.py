"""Office hours and Italian public holidays: SLA due times and closed days are computed on working time."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holidays_lib

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@dataclass(frozen=True)
class OfficeHours:
    """Weekday -> list of (open, close) intervals, in the ente's local time."""

    intervals: dict[int, tuple[tuple[time, time], ...]]
    tz: ZoneInfo
    patron_day: tuple[int, int] | None = None
    extra_closed: frozenset[date] = field(default_factory=frozenset)

    def is_working_day(self, d: date) -> bool:
        return (
            bool(self.intervals.get(d.weekday())) and not is_holiday(d, self.patron_day) and d not in self.extra_closed
        )


def parse_office_hours(spec: str) -> dict[int, tuple[tuple[time, time], ...]]:
    """``"mon-fri 08:00-12:30,14:00-17:00; sat 09:00-12:00"`` -> weekday map. Raises ValueError on bad specs."""
    out: dict[int, tuple[tuple[time, time], ...]] = {}
    for chunk in filter(None, (c.strip() for c in spec.split(";"))):
        m = re.fullmatch(r"([a-z]{3})(?:-([a-z]{3}))?\s+(.+)", chunk.lower())
        if not m or m.group(1) not in DAYS or (m.group(2) and m.group(2) not in DAYS):
            raise ValueError(f"bad office hours chunk: {chunk!r}")
        first = DAYS.index(m.group(1))
        last = DAYS.index(m.group(2)) if m.group(2) else first
        spans: list[tuple[time, time]] = []
        for rng in m.group(3).split(","):
            a, _, b = rng.strip().partition("-")
            start, end = time.fromisoformat(a.strip()), time.fromisoformat(b.strip())
            if end <= start:
                raise ValueError(f"interval ends before it starts: {rng!r}")
            spans.append((start, end))
        spans.sort()
        for day in range(first, last + 1):
            out[day] = tuple(spans)
    return out


def parse_patron_day(spec: str | None) -> tuple[int, int] | None:
    if not spec:
        return None
    month, _, day = spec.partition("-")
    date(2000, int(month), int(day))  # validates
    return int(month), int(day)


@lru_cache(maxsize=64)
def _italian_holidays(year: int) -> holidays_lib.HolidayBase:
    return holidays_lib.country_holidays("IT", years=year)


def is_holiday(d: date, patron_day: tuple[int, int] | None = None) -> bool:
    if patron_day and (d.month, d.day) == patron_day:
        return True
    return d in _italian_holidays(d.year)


def make_office_hours(spec: str, tz: str, patron_day: str | None) -> OfficeHours:
    return OfficeHours(intervals=parse_office_hours(spec), tz=ZoneInfo(tz), patron_day=parse_patron_day(patron_day))


def is_open(at: datetime, oh: OfficeHours) -> bool:
    """Whether the office is open at ``at`` (aware): a working day and inside one of its intervals."""
    local = at.astimezone(oh.tz)
    if not oh.is_working_day(local.date()):
        return False
    return any(a <= local.time() < b for a, b in oh.intervals.get(local.weekday(), ()))


def next_opening(at: datetime, oh: OfficeHours) -> datetime | None:
    """The first opening strictly after ``at``, in the office's time zone; None for a calendar with no hours."""
    local = at.astimezone(oh.tz)
    day = local.date()
    for _ in range(370):
        if oh.is_working_day(day):
            for open_t, _close in oh.intervals.get(day.weekday(), ()):
                start = datetime.combine(day, open_t, oh.tz)
                if start > local:
                    return start
        day += timedelta(days=1)
    return None


def add_working_hours(start: datetime, hours: float, oh: OfficeHours) -> datetime:
    """The instant ``hours`` of office time after ``start`` (aware datetime), skipping nights, weekends, holidays."""
    remaining = timedelta(hours=hours)
    local = start.astimezone(oh.tz)
    day = local.date()
    for _ in range(3660):  # ten years of days at most: a guard against a calendar with no working time
        if oh.is_working_day(day):
            for open_t, close_t in oh.intervals.get(day.weekday(), ()):
                span_start = datetime.combine(day, open_t, oh.tz)
                span_end = datetime.combine(day, close_t, oh.tz)
                begin = max(span_start, local)
                if begin >= span_end:
                    continue
                available = span_end - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= available
        day += timedelta(days=1)
        local = datetime.combine(day, time(0), oh.tz)
    raise ValueError("office hours leave no working time")


def working_hours_between(start: datetime, end: datetime, oh: OfficeHours) -> float:
    """Office hours elapsed from start to end (0 if end <= start)."""
    if end <= start:
        return 0.0
    total = timedelta()
    local_start, local_end = start.astimezone(oh.tz), end.astimezone(oh.tz)
    day = local_start.date()
    while day <= local_end.date():
        if oh.is_working_day(day):
            for open_t, close_t in oh.intervals.get(day.weekday(), ()):
                a = max(datetime.combine(day, open_t, oh.tz), local_start)
                b = min(datetime.combine(day, close_t, oh.tz), local_end)
                if b > a:
                    total += b - a
        day += timedelta(days=1)
    return total.total_seconds() / 3600


DAY_NAMES_IT = ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"]


def describe_it(intervals: dict[int, tuple[tuple[time, time], ...]]) -> str:
    """Office hours as a citizen reads them: «dal lunedì al venerdì 8:00-12:30 e 14:00-17:00; sabato 9:00-12:00».
    Consecutive days with the same hours are grouped."""

    def spans(day: int) -> str:
        return " e ".join(f"{a.hour}:{a.minute:02d}-{b.hour}:{b.minute:02d}" for a, b in intervals.get(day, ()))

    groups: list[tuple[int, int, str]] = []
    for day in range(7):
        text = spans(day)
        if not text:
            continue
        if groups and groups[-1][1] == day - 1 and groups[-1][2] == text:
            groups[-1] = (groups[-1][0], day, text)
        else:
            groups.append((day, day, text))
    parts = []
    for first, last, text in groups:
        if first == last:
            parts.append(f"{DAY_NAMES_IT[first]} {text}")
        elif last == first + 1:
            parts.append(f"{DAY_NAMES_IT[first]} e {DAY_NAMES_IT[last]} {text}")
        else:
            parts.append(f"dal {DAY_NAMES_IT[first]} al {DAY_NAMES_IT[last]} {text}")
    return "; ".join(parts)

"""SLA arithmetic on office hours, weekends, Italian holidays and the patron-saint day."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from crm.core.workhours import (
    add_working_hours,
    is_holiday,
    make_office_hours,
    parse_office_hours,
    working_hours_between,
)

pytestmark = pytest.mark.db_independent  # no database: runs once, in the SQLite pass

OH = make_office_hours("mon-fri 08:00-12:30,14:00-17:00", "Europe/Rome", "06-29")


def rome(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo("Europe/Rome"))


def test_within_a_day_and_across_lunch() -> None:
    assert add_working_hours(rome(2026, 11, 24, 9), 2, OH) == rome(2026, 11, 24, 11)
    assert add_working_hours(rome(2026, 11, 24, 11), 2, OH) == rome(2026, 11, 24, 14, 30)


def test_overnight_and_weekend() -> None:
    # Friday 16:00 + 8 working hours: 1 h on Friday, 4.5 h Monday morning, 2.5 h Monday afternoon
    assert add_working_hours(rome(2026, 11, 27, 16), 8, OH) == rome(2026, 11, 30, 16, 30)
    # created on Saturday: the clock starts Monday 08:00
    assert add_working_hours(rome(2026, 11, 28, 10), 1, OH) == rome(2026, 11, 30, 9)


def test_holidays_and_patron_day_are_skipped() -> None:
    assert is_holiday(date(2026, 12, 8))  # Immacolata
    assert is_holiday(date(2026, 6, 29), (6, 29))
    assert not is_holiday(date(2026, 6, 30), (6, 29))
    # Monday 7 Dec 2026 16:00 + 2 h: Tuesday 8 Dec is a holiday, so Wednesday 9 at 09:00
    assert add_working_hours(rome(2026, 12, 7, 16), 2, OH) == rome(2026, 12, 9, 9)
    # Easter Monday 2027 is 29 March
    assert add_working_hours(rome(2027, 3, 26, 17), 1, OH) == rome(2027, 3, 30, 9)


def test_result_keeps_the_input_timezone_and_round_trips() -> None:
    start = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # 09:00 in Rome
    due = add_working_hours(start, 12, OH)
    assert due.tzinfo == UTC
    assert working_hours_between(start, due, OH) == pytest.approx(12)


def test_bad_specs_are_refused() -> None:
    for spec in ("mon-fri", "xyz 08:00-12:00", "mon 12:00-08:00", "mon 8-12"):
        with pytest.raises(ValueError):
            parse_office_hours(spec)
    assert parse_office_hours("mon-fri 08:00-12:30,14:00-17:00; sat 09:00-12:00")[5][0][0].hour == 9


def test_open_now_and_next_opening() -> None:
    from crm.core.workhours import is_open, next_opening

    assert is_open(rome(2026, 11, 24, 9), OH) and not is_open(rome(2026, 11, 24, 13), OH)  # lunch break
    assert not is_open(rome(2026, 11, 24, 12, 30), OH)  # closing time is closed
    assert next_opening(rome(2026, 11, 24, 13), OH) == rome(2026, 11, 24, 14)
    assert next_opening(rome(2026, 11, 24, 9), OH) == rome(2026, 11, 24, 14)  # the *next* opening
    # Friday evening: Monday morning
    assert next_opening(rome(2026, 11, 27, 18), OH) == rome(2026, 11, 30, 8)
    # Monday 7 Dec after closing: Tuesday 8 is the Immacolata, so Wednesday 9
    assert not is_open(rome(2026, 12, 8, 10), OH)
    assert next_opening(rome(2026, 12, 7, 17, 30), OH) == rome(2026, 12, 9, 8)
    assert next_opening(rome(2026, 6, 28, 20), OH) == rome(2026, 6, 30, 8)  # patron day 29 June is a Monday
    assert next_opening(rome(2026, 11, 24, 9), make_office_hours("", "Europe/Rome", None)) is None

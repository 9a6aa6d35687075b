"""Booking slots on the two clock-change days, for every calendar kind: the grid is laid out in absolute time, so
no slot lasts more or less than its duration, no instant is offered twice, the skipped spring hour offers nothing,
the repeated autumn hour is offered twice (one reading each) and two bookings of one official never overlap.

A night opening (00:00-06:00, an extra opening so that it applies even when the change falls on Easter Sunday)
covers both changes at 02:00-03:00 in Rome. The change days are the next ones inside the services' horizon."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

import httpx
import pytest

from crm.bookings.availability import (
    exact_instant,
    gap_or_fold,
    instant,
    local_day_bounds,
    wall_label,
)
from tests.bookings.test_bookings import ROME, contact, setup_service, slots

SLOT = 30


def _last_sunday(year: int, month: int) -> date:
    d = date(year, month + 1, 1) - timedelta(days=1)
    return d - timedelta(days=(d.weekday() - 6) % 7)


def _next_change(month: int) -> date:
    today = datetime.now(ROME).date() + timedelta(days=2)
    d = _last_sunday(today.year, month)
    return d if d >= today else _last_sunday(today.year + 1, month)


SPRING, AUTUMN = _next_change(3), _next_change(10)


def _at(s: str) -> datetime:
    return datetime.fromisoformat(s)


def _night_service(
    client: httpx.Client,
    ente_ctx,
    kind: str,
    day: date,
    resources: int = 1,  # type: ignore[no-untyped-def]
    **extra,
) -> dict:  # type: ignore[type-arg]
    svc = setup_service(
        client,
        ente_ctx,
        kind=kind,
        resources=resources,
        hours=[],
        slot_minutes=SLOT,
        horizon_days=366,
        max_active_per_citizen=10,
        max_per_day_per_citizen=10,
        **extra,
    )
    if kind != "capacity":
        r = client.post(
            f"/api/v1/services/{svc['id']}/exceptions",
            headers=ente_ctx.headers("admin"),
            json={"day": day.isoformat(), "closed": False, "start": "00:00", "end": "06:00"},
        )
        assert r.status_code == 201, r.text
    return svc


def _check_grid(items: list[dict], day: date) -> list[datetime]:  # type: ignore[type-arg]
    """Every slot lasts SLOT minutes of real time, starts are strictly increasing instants, all on ``day``."""
    starts = [_at(s["start"]) for s in items]
    for s in items:
        assert _at(s["end"]) - _at(s["start"]) == timedelta(minutes=SLOT), s
        assert _at(s["start"]).astimezone(ROME).date() == day
    assert all(a < b for a, b in pairwise(starts)), starts
    return starts


def _book(client: httpx.Client, ente_ctx, svc: dict, start: str, **extra) -> httpx.Response:  # type: ignore[no-untyped-def, type-arg]
    return client.post(
        "/api/v1/bookings",
        headers=ente_ctx.headers("service"),
        json={"service_id": svc["id"], "start": start, "contact_id": contact(client, ente_ctx), **extra},
    )


def test_wall_times_on_change_days_are_decided_explicitly() -> None:
    gap, fold = time(2, 30), time(2, 30)
    assert gap_or_fold(SPRING, gap, ROME) == "gap" and gap_or_fold(AUTUMN, fold, ROME) == "fold"
    assert gap_or_fold(SPRING, time(1, 59), ROME) is None and gap_or_fold(AUTUMN, time(3, 0), ROME) is None
    # a skipped time is the moment the clock jumps; a repeated one its first reading
    assert instant(SPRING, gap, ROME).astimezone(ROME).isoformat() == f"{SPRING}T03:00:00+02:00"
    assert instant(AUTUMN, fold, ROME).astimezone(ROME).isoformat() == f"{AUTUMN}T02:30:00+02:00"
    assert exact_instant(SPRING, gap, ROME) is None
    second = exact_instant(AUTUMN, fold, ROME, fold=1)
    assert second is not None and second.astimezone(ROME).isoformat() == f"{AUTUMN}T02:30:00+01:00"
    # days of 23 and 25 hours
    for day, hours in ((SPRING, 23), (AUTUMN, 25), (SPRING - timedelta(days=1), 24)):
        a, b = local_day_bounds(day, ROME)
        assert b - a == timedelta(hours=hours) and a.tzinfo is UTC
    # the two readings of the repeated hour are told apart wherever a time is shown
    first = exact_instant(AUTUMN, fold, ROME)
    assert first is not None and second is not None
    assert (wall_label(first, ROME), wall_label(second, ROME)) == ("02:30 (ora legale)", "02:30 (ora solare)")
    assert wall_label(instant(AUTUMN, time(4), ROME), ROME) == "04:00"
    # and so does the assistant, when it offers slots
    from actions.common import slot_label

    assert slot_label(f"{AUTUMN}T02:30:00+02:00").endswith("ore 02:30 (ora legale)")
    assert slot_label(f"{AUTUMN}T02:30:00+01:00").endswith("ore 02:30 (ora solare)")
    assert slot_label(f"{AUTUMN}T04:00:00+01:00").endswith("ore 04:00")


@pytest.mark.parametrize("kind", ["resource", "multi_resource"])
def test_spring_gap_offers_nothing_twice_and_nothing_inverted(client: httpx.Client, ente_ctx, kind: str) -> None:  # type: ignore[no-untyped-def]
    svc = _night_service(client, ente_ctx, kind, SPRING, resources=1 if kind == "resource" else 2)
    items = slots(client, ente_ctx, svc, SPRING)
    starts = _check_grid(items, SPRING)
    # 00:00-06:00 that night is five real hours: ten half-hour slots, none between 02:00 and 03:00 wall time
    assert [s.astimezone(ROME).strftime("%H:%M%z") for s in starts] == [
        "00:00+0100",
        "00:30+0100",
        "01:00+0100",
        "01:30+0100",
        "03:00+0200",
        "03:30+0200",
        "04:00+0200",
        "04:30+0200",
        "05:00+0200",
        "05:30+0200",
    ]
    if kind == "multi_resource":
        assert {s["remaining"] for s in items} == {2}
    # the slot just before the jump ends at the jump, 30 minutes later
    r = _book(client, ente_ctx, svc, f"{SPRING}T01:30:00+01:00")
    assert r.status_code == 201, r.text
    assert r.json()["end"] == f"{SPRING}T03:00:00+02:00"
    # a wall time the clock skips, written with winter time, is a real instant (03:30 summer time): it is booked
    # and shown as the clock reads it
    r = _book(client, ente_ctx, svc, f"{SPRING}T02:30:00+01:00")
    assert r.status_code == 201 and r.json()["start"] == f"{SPRING}T03:30:00+02:00", r.text


@pytest.mark.parametrize("kind", ["resource", "multi_resource"])
def test_autumn_repeated_hour_is_offered_twice_and_never_overlaps(
    client: httpx.Client,
    ente_ctx,
    db,  # type: ignore[no-untyped-def]
    kind: str,
) -> None:
    svc = _night_service(client, ente_ctx, kind, AUTUMN, resources=1 if kind == "resource" else 2)
    items = slots(client, ente_ctx, svc, AUTUMN)
    starts = _check_grid(items, AUTUMN)
    # seven real hours: fourteen slots, the 02:00 and 02:30 readings once in summer and once in winter time
    assert len(starts) == 14
    labels = [s.astimezone(ROME).strftime("%H:%M%z") for s in starts]
    assert labels[3:9] == ["01:30+0200", "02:00+0200", "02:30+0200", "02:00+0100", "02:30+0100", "03:00+0100"]
    first = _book(client, ente_ctx, svc, f"{AUTUMN}T02:30:00+02:00")
    assert first.status_code == 201, first.text
    assert _at(first.json()["end"]) - _at(first.json()["start"]) == timedelta(minutes=SLOT)
    assert first.json()["end"] == f"{AUTUMN}T02:00:00+01:00"
    # the next slot (the second 02:00) is free and is booked for someone else, back to back and not overlapping
    second = _book(client, ente_ctx, svc, f"{AUTUMN}T02:00:00+01:00")
    assert second.status_code == 201, second.text
    assert _at(second.json()["start"]) >= _at(first.json()["end"])
    if kind == "resource":
        # the official is taken at the first 02:30: nobody else gets it
        assert _book(client, ente_ctx, svc, f"{AUTUMN}T02:30:00+02:00").status_code == 409
        left = [s["start"] for s in slots(client, ente_ctx, svc, AUTUMN)]
        assert f"{AUTUMN}T02:30:00+02:00" not in left and f"{AUTUMN}T02:00:00+01:00" not in left
        assert f"{AUTUMN}T02:30:00+01:00" in left
    else:
        left = {s["start"]: s["remaining"] for s in slots(client, ente_ctx, svc, AUTUMN)}
        assert left[f"{AUTUMN}T02:30:00+02:00"] == 1 and left[f"{AUTUMN}T02:30:00+01:00"] == 2

    # in the database, no two claims of one resource overlap
    from sqlalchemy import select

    from crm.bookings.models import Booking, SlotClaim

    async def claims(s):  # type: ignore[no-untyped-def]
        return (
            await s.execute(
                select(SlotClaim.resource_id, SlotClaim.start, SlotClaim.end)
                .join(Booking, Booking.id == SlotClaim.booking_id)
                .where(Booking.service_id == svc["id"])
            )
        ).all()

    rows = sorted(db.run(claims))
    for (r1, s1, e1), (r2, s2, _) in pairwise(rows):
        assert e1 - s1 == timedelta(minutes=SLOT)
        assert r1 != r2 or e1 <= s2


def test_autumn_long_booking_spans_the_repeated_hour(client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    svc = _night_service(client, ente_ctx, "resource", AUTUMN, max_slots_per_booking=4)
    hour = client.get(
        f"/api/v1/services/{svc['id']}/availability",
        headers=ente_ctx.headers("service"),
        params={"from": AUTUMN.isoformat(), "to": AUTUMN.isoformat(), "duration": 60},
    ).json()["items"]
    for s in hour:
        assert _at(s["end"]) - _at(s["start"]) == timedelta(hours=1)
    r = _book(client, ente_ctx, svc, f"{AUTUMN}T02:30:00+02:00", duration_minutes=60)
    assert r.status_code == 201, r.text
    assert r.json()["end"] == f"{AUTUMN}T02:30:00+01:00"  # one real hour later, the clock reads 02:30 again
    left = [s["start"] for s in slots(client, ente_ctx, svc, AUTUMN)]
    assert f"{AUTUMN}T02:00:00+01:00" not in left and f"{AUTUMN}T02:30:00+01:00" in left


def test_capacity_events_on_both_change_days(client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    h = ente_ctx.headers("admin")
    svc = _night_service(client, ente_ctx, "capacity", AUTUMN)
    events = [
        (f"{AUTUMN}T02:30:00+01:00", f"{AUTUMN}T03:00:00+01:00"),  # created first, later in time
        (f"{AUTUMN}T02:30:00+02:00", f"{AUTUMN}T02:00:00+01:00"),
        (f"{SPRING}T01:30:00+01:00", f"{SPRING}T03:00:00+02:00"),
    ]
    for start, end in events:
        r = client.post(
            f"/api/v1/services/{svc['id']}/events",
            headers=h,
            json={
                "title": "Serata informativa",
                "location_id": svc["location_id"],
                "start": start,
                "end": end,
                "seats": 2,
            },
        )
        assert r.status_code == 201, r.text
    # an event whose end reads earlier on the clock but is 30 minutes later in time is fine; one that truly ends
    # before it starts is refused
    bad = client.post(
        f"/api/v1/services/{svc['id']}/events",
        headers=h,
        json={
            "title": "Rovesciato",
            "location_id": svc["location_id"],
            "start": f"{AUTUMN}T02:00:00+01:00",
            "end": f"{AUTUMN}T02:30:00+02:00",
            "seats": 2,
        },
    )
    assert bad.status_code == 422
    autumn = slots(client, ente_ctx, svc, AUTUMN)
    assert [s["start"] for s in autumn] == [f"{AUTUMN}T02:30:00+02:00", f"{AUTUMN}T02:30:00+01:00"]
    spring = slots(client, ente_ctx, svc, SPRING)
    assert [(s["start"], s["end"]) for s in spring] == [events[2]]
    for s in autumn + spring:
        assert _at(s["end"]) - _at(s["start"]) == timedelta(minutes=SLOT)
        r = _book(client, ente_ctx, svc, s["start"])
        assert r.status_code == 201, r.text
        assert r.json()["start"] == s["start"] and r.json()["end"] == s["end"]
    left = {s["start"]: s["remaining"] for s in slots(client, ente_ctx, svc, AUTUMN)}
    assert left == {f"{AUTUMN}T02:30:00+02:00": 1, f"{AUTUMN}T02:30:00+01:00": 1}


def test_series_refuses_a_time_the_clock_skips(client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    svc = setup_service(
        client,
        ente_ctx,
        hours=[{"weekday": d, "start": "00:00", "end": "06:00"} for d in range(7)],
        slot_minutes=SLOT,
        horizon_days=366,
        max_series_count=3,
        max_active_per_citizen=10,
    )
    for day in (SPRING, AUTUMN + timedelta(days=1)):  # Easter or All Saints, the night is open
        client.post(
            f"/api/v1/services/{svc['id']}/exceptions",
            headers=ente_ctx.headers("admin"),
            json={"day": day.isoformat(), "closed": False, "start": "00:00", "end": "06:00"},
        )
    r = _book(
        client, ente_ctx, svc, f"{SPRING - timedelta(days=1)}T02:30:00+01:00", repeat={"frequency": "daily", "count": 2}
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["fields"] == {f"repeat.{SPRING}": "time skipped by the clock change"}
    # across the autumn change the second reading of 02:30 keeps its reading on the next day
    r = _book(client, ente_ctx, svc, f"{AUTUMN}T02:30:00+01:00", repeat={"frequency": "daily", "count": 2})
    assert r.status_code == 201, r.text
    assert [b["start"] for b in r.json()["series"]] == [
        f"{AUTUMN}T02:30:00+01:00",
        f"{AUTUMN + timedelta(days=1)}T02:30:00+01:00",
    ]


def test_notice_names_the_reading_of_a_repeated_hour(client: httpx.Client, ente_ctx, db) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from crm.notifications.models import Notification

    svc = _night_service(client, ente_ctx, "resource", AUTUMN)
    r = _book(client, ente_ctx, svc, f"{AUTUMN}T02:30:00+01:00")
    assert r.status_code == 201, r.text

    async def text(s):  # type: ignore[no-untyped-def]
        return await s.scalar(select(Notification.text).where(Notification.contact_id == r.json()["contact_id"]))

    assert "alle 02:30 (ora solare)" in db.run(text)

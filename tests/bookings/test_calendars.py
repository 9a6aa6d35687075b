"""Resource calendars beyond one slot: variable duration, repeated series, per-resource hours and exceptions, and
the admin's management of services, locations, resources, exceptions and events, through the HTTP API."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import httpx

from tests.bookings.test_bookings import ROME, _fire, contact, next_weekday, setup_service, slots


def book(
    client: httpx.Client,
    ente_ctx,
    svc: dict,
    start: str,
    cid: int,
    who: str = "service",  # type: ignore[no-untyped-def]
    headers: dict | None = None,
    **extra,
) -> httpx.Response:  # type: ignore[type-arg]
    return client.post(
        "/api/v1/bookings",
        json={"service_id": svc["id"], "start": start, "contact_id": cid, **extra},
        headers={**ente_ctx.headers(who), **(headers or {})},
    )


def at(day: date, hm: str) -> str:
    h, m = map(int, hm.split(":"))
    return datetime.combine(day, datetime.min.time(), ROME).replace(hour=h, minute=m).isoformat()


def test_variable_duration_claims_every_slot(server, client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    svc = setup_service(client, ente_ctx, max_slots_per_booking=3, max_active_per_citizen=10, max_per_day_per_citizen=5)
    day = next_weekday(1)
    long = book(client, ente_ctx, svc, at(day, "09:00"), contact(client, ente_ctx), duration_minutes=60)
    assert long.status_code == 201, long.text
    assert long.json()["end"] == at(day, "10:00") and long.json()["slots"] == 3
    starts = [s["start"] for s in slots(client, ente_ctx, svc, day)]
    assert at(day, "09:20") not in starts and at(day, "09:40") not in starts and starts[0] == at(day, "10:00")
    # an hour-long booking needs three free consecutive slots inside one opening interval
    hour = client.get(
        f"/api/v1/services/{svc['id']}/availability",
        headers=ente_ctx.headers("service"),
        params={"from": day.isoformat(), "to": day.isoformat(), "duration": 60},
    ).json()["items"]
    assert [s["start"][11:16] for s in hour] == ["10:00", "10:20", "10:40", "11:00"]
    assert hour[0]["end"] == at(day, "11:00")
    cid = contact(client, ente_ctx)
    assert book(client, ente_ctx, svc, at(day, "09:40"), cid).status_code == 409  # inside the long booking
    short_end = book(client, ente_ctx, svc, at(day, "11:40"), cid, duration_minutes=40)
    assert short_end.status_code == 422 and short_end.json()["error"]["fields"] == {
        "start": "not enough consecutive time"
    }
    for minutes, reason in ((30, "multiple of 20"), (80, "too long")):
        r = book(client, ente_ctx, svc, at(day, "10:00"), cid, duration_minutes=minutes)
        assert r.status_code == 422 and r.json()["error"]["fields"] == {"duration_minutes": reason}
    # the database refuses overlapping long bookings that start at different times: exactly one of them wins
    people = [contact(client, ente_ctx) for _ in range(21)]
    bodies = [
        {
            "service_id": svc["id"],
            "start": at(day, ("10:00", "10:20", "10:40")[i % 3]),
            "contact_id": p,
            "duration_minutes": 60,
        }
        for i, p in enumerate(people)
    ]
    codes = _fire(server.url, ente_ctx.headers("service"), bodies)
    assert codes.count(201) == 1 and codes.count(409) == 20, codes
    # cancelling the long booking frees all three slots
    assert (
        client.post(
            f"/api/v1/bookings/{long.json()['id']}/cancel", json={}, headers=ente_ctx.headers("operator")
        ).status_code
        == 200
    )
    starts = [s["start"] for s in slots(client, ente_ctx, svc, day)]
    assert {at(day, "09:00"), at(day, "09:20"), at(day, "09:40")} <= set(starts)
    # a fixed-duration service says so
    fixed = setup_service(client, ente_ctx, kind="multi_resource", resources=2)
    r = book(client, ente_ctx, fixed, at(day, "09:00"), cid, duration_minutes=40)
    assert r.status_code == 422 and r.json()["error"]["fields"] == {"duration_minutes": "must be 20"}


def test_series_all_or_nothing_across_dst(client: httpx.Client, ente_ctx, db) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from crm.notifications.models import Notification

    svc = setup_service(client, ente_ctx, max_series_count=4, max_active_per_citizen=10, horizon_days=366)
    first = next_weekday(3)
    blocker = book(client, ente_ctx, svc, at(first + timedelta(days=14), "09:00"), contact(client, ente_ctx))
    assert blocker.status_code == 201
    cid = contact(client, ente_ctx)
    weekly = {"frequency": "weekly", "count": 4}
    clash = book(client, ente_ctx, svc, at(first, "09:00"), cid, repeat=weekly)
    assert clash.status_code == 409
    assert clash.json()["error"]["fields"] == {f"repeat.{(first + timedelta(days=14)).isoformat()}": "taken"}
    assert (
        client.get("/api/v1/bookings", params={"contact_id": cid}, headers=ente_ctx.headers("operator")).json()["total"]
        == 0
    )  # nothing half-written
    key = {"Idempotency-Key": f"series-{cid}"}
    ok = book(client, ente_ctx, svc, at(first, "09:20"), cid, repeat=weekly, headers=key)
    assert ok.status_code == 201, ok.text
    series = ok.json()["series"]
    assert [b["start"] for b in series] == [at(first + timedelta(days=7 * i), "09:20") for i in range(4)]
    assert len({b["series_id"] for b in series}) == 1 and len({b["code"] for b in series}) == 4
    again = book(client, ente_ctx, svc, at(first, "09:20"), cid, repeat=weekly, headers=key)
    assert again.status_code == 200 and [b["id"] for b in again.json()["series"]] == [b["id"] for b in series]
    too_many = book(client, ente_ctx, svc, at(first, "10:00"), cid, repeat={"frequency": "weekly", "count": 5})
    assert too_many.status_code == 422 and too_many.json()["error"]["fields"] == {"repeat.count": "too many"}

    # one message for the whole series, not four
    async def kinds(s):  # type: ignore[no-untyped-def]
        return (
            await s.execute(
                select(Notification.kind, func.count())
                .where(Notification.contact_id == cid)
                .group_by(Notification.kind)
            )
        ).all()

    assert dict(db.run(kinds)) == {"booking.series_confirmed": 1}
    # cancelling from the second occurrence on leaves the first
    done = client.post(
        f"/api/v1/bookings/{series[1]['id']}/cancel", json={"series": True}, headers=ente_ctx.headers("operator")
    ).json()
    assert [b["id"] for b in done["cancelled"]] == [b["id"] for b in series[1:]]
    left = client.get(
        "/api/v1/bookings", params={"contact_id": cid, "status": "confirmed"}, headers=ente_ctx.headers("operator")
    ).json()
    assert [b["id"] for b in left["items"]] == [series[0]["id"]]
    # a daily series over the autumn clock change keeps the citizen's wall-clock time
    dst = book(
        client,
        ente_ctx,
        svc,
        at(date(2027, 10, 30), "11:00"),
        contact(client, ente_ctx),
        repeat={"frequency": "daily", "count": 2},
    )
    assert dst.status_code == 201, dst.text
    assert [b["start"] for b in dst.json()["series"]] == ["2027-10-30T11:00:00+02:00", "2027-10-31T11:00:00+01:00"]
    # series belong to resource calendars
    multi = setup_service(client, ente_ctx, kind="multi_resource", resources=2)
    r = book(client, ente_ctx, multi, at(first, "09:00"), cid, repeat=weekly)
    assert r.status_code == 422 and r.json()["error"]["fields"] == {"repeat.count": "not allowed"}


def test_each_resource_has_its_own_calendar(client: httpx.Client, ente_ctx) -> None:
    h = ente_ctx.headers("admin")
    svc = setup_service(client, ente_ctx, kind="multi_resource", resources=2)
    r1, r2 = svc["resource_ids"]
    # the second counter opens only in the early afternoon
    afternoon = [{"weekday": d, "start": "14:00", "end": "15:00"} for d in range(7)]
    assert (
        client.put(
            f"/api/v1/services/{svc['id']}/hours", json={"hours": afternoon, "resource_id": r2}, headers=h
        ).status_code
        == 200
    )
    day = next_weekday(2)
    got = slots(client, ente_ctx, svc, day)
    assert [(s["start"][11:16], s["remaining"]) for s in got] == [
        (t, 1)
        for t in (
            "09:00",
            "09:20",
            "09:40",
            "10:00",
            "10:20",
            "10:40",
            "11:00",
            "11:20",
            "11:40",
            "14:00",
            "14:20",
            "14:40",
        )
    ]
    # the first counter's official is on leave that day: only the afternoon remains
    leave = client.post(
        f"/api/v1/services/{svc['id']}/exceptions",
        headers=h,
        json={"day": day.isoformat(), "closed": True, "resource_id": r1, "note": "ferie"},
    )
    assert leave.status_code == 201 and leave.json()["resource_id"] == r1
    assert [s["start"][11:16] for s in slots(client, ente_ctx, svc, day)] == ["14:00", "14:20", "14:40"]
    cid = contact(client, ente_ctx)
    assert book(client, ente_ctx, svc, at(day, "09:00"), cid).status_code == 422
    b = book(client, ente_ctx, svc, at(day, "14:00"), cid)
    assert b.status_code == 201 and b.json()["resource_id"] == r2
    # hours of a resource that does not deliver the service, or overlapping intervals, are refused
    other = client.post(
        "/api/v1/resources", json={"name": "Altro", "location_id": svc["location_id"]}, headers=h
    ).json()["id"]
    bad = client.put(f"/api/v1/services/{svc['id']}/hours", json={"hours": afternoon, "resource_id": other}, headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["fields"] == {"resource_id": "not a resource of this service"}
    overlap = client.put(
        f"/api/v1/services/{svc['id']}/hours",
        headers=h,
        json={
            "hours": [
                {"weekday": 0, "start": "09:00", "end": "12:00"},
                {"weekday": 0, "start": "11:00", "end": "13:00"},
            ]
        },
    )
    assert overlap.status_code == 422 and overlap.json()["error"]["fields"] == {"hours": "overlap"}
    # listing shows both templates; deleting the exception brings the morning back
    hours = client.get(f"/api/v1/services/{svc['id']}/hours", headers=h).json()["items"]
    assert {x["resource_id"] for x in hours} == {None, r2}
    assert client.delete(f"/api/v1/exceptions/{leave.json()['id']}", headers=h).status_code == 200
    assert slots(client, ente_ctx, svc, day)[0]["start"] == at(day, "09:00")
    # a deactivated resource offers nothing more and the admin learns what still needs moving
    off = client.delete(f"/api/v1/resources/{r2}", headers=h)
    assert off.status_code == 200 and off.json() == {
        "id": r2,
        "name": "Sportello 1",
        "location_id": svc["location_id"],
        "active": False,
        "upcoming_bookings": 1,
    }
    assert [s["start"][11:16] for s in slots(client, ente_ctx, svc, day)][-1] == "11:40"


def test_admin_manages_services_locations_and_events(client: httpx.Client, ente_ctx) -> None:
    h = ente_ctx.headers("admin")
    svc = setup_service(client, ente_ctx, resources=1)
    sid = svc["id"]
    detail = client.get(f"/api/v1/services/{sid}", headers=ente_ctx.headers("operator")).json()
    assert detail["resource_ids"] == svc["resource_ids"] and len(detail["hours"]) == 7
    assert (
        client.patch(
            f"/api/v1/services/{sid}", json={"name": "Nuovo nome"}, headers=ente_ctx.headers("operator")
        ).status_code
        == 403
    )
    r = client.patch(f"/api/v1/services/{sid}", json={"name": "Carta d'identità (CIE)", "slot_minutes": 30}, headers=h)
    assert r.status_code == 200 and r.json()["slot_minutes"] == 30
    day = next_weekday(4)
    assert [s["start"][11:16] for s in slots(client, ente_ctx, svc, day)][:3] == ["09:00", "09:30", "10:00"]
    bad = client.patch(f"/api/v1/services/{sid}", json={"form_schema": {"type": "nope"}}, headers=h)
    assert bad.status_code == 422 and "form_schema" in bad.json()["error"]["fields"]
    assert client.patch(f"/api/v1/services/{sid}", json={"name": None}, headers=h).status_code == 422
    multi = setup_service(client, ente_ctx, kind="multi_resource", resources=1)
    assert client.patch(f"/api/v1/services/{multi['id']}", json={"max_series_count": 3}, headers=h).status_code == 422
    # withdrawn from booking, still there for history and for admins
    assert client.delete(f"/api/v1/services/{sid}", headers=h).json()["active"] is False
    assert sid not in [x["id"] for x in client.get("/api/v1/services", headers=h).json()["items"]]
    assert sid in [
        x["id"] for x in client.get("/api/v1/services", params={"include_inactive": "true"}, headers=h).json()["items"]
    ]
    r = book(client, ente_ctx, svc, at(day, "09:00"), contact(client, ente_ctx))
    assert r.status_code == 422 and r.json()["error"]["fields"] == {"service_id": "inactive"}
    # locations: renamed, refused while in use, deleted when unused
    loc = svc["location_id"]
    assert (
        client.patch(f"/api/v1/locations/{loc}", json={"address": "Piazza Municipio 1"}, headers=h).json()["address"]
        == "Piazza Municipio 1"
    )
    assert client.delete(f"/api/v1/locations/{loc}", headers=h).status_code == 409
    spare = client.post("/api/v1/locations", json={"name": "Sede vuota"}, headers=h).json()["id"]
    assert client.delete(f"/api/v1/locations/{spare}", headers=h).status_code == 200
    assert spare not in [x["id"] for x in client.get("/api/v1/locations", headers=h).json()["items"]]
    # events: seats never below those booked, time fixed once booked, deleted only when empty
    cap = setup_service(client, ente_ctx, kind="capacity", resources=0, hours=[])
    when = datetime.combine(next_weekday(5), datetime.min.time(), ROME).replace(hour=10)
    ev = client.post(
        f"/api/v1/services/{cap['id']}/events",
        headers=h,
        json={
            "title": "Open day",
            "location_id": cap["location_id"],
            "start": when.isoformat(),
            "end": (when + timedelta(hours=2)).isoformat(),
            "seats": 3,
        },
    ).json()
    for _ in range(2):
        assert book(client, ente_ctx, cap, when.isoformat(), contact(client, ente_ctx)).status_code == 201
    assert client.patch(f"/api/v1/events/{ev['id']}", json={"seats": 1}, headers=h).status_code == 409
    grown = client.patch(f"/api/v1/events/{ev['id']}", json={"seats": 10, "title": "Open day del nido"}, headers=h)
    assert grown.status_code == 200 and grown.json()["seats"] == 10 and grown.json()["booked"] == 2
    moved = client.patch(
        f"/api/v1/events/{ev['id']}", headers=h, json={"start": (when + timedelta(hours=1)).isoformat()}
    )
    assert moved.status_code == 409
    assert client.delete(f"/api/v1/events/{ev['id']}", headers=h).status_code == 409
    assert slots(client, ente_ctx, cap, when.date())[0]["remaining"] == 8
    empty = client.post(
        f"/api/v1/services/{cap['id']}/events",
        headers=h,
        json={
            "title": "Secondo turno",
            "location_id": cap["location_id"],
            "start": (when + timedelta(hours=3)).isoformat(),
            "end": (when + timedelta(hours=4)).isoformat(),
            "seats": 3,
        },
    ).json()
    assert client.delete(f"/api/v1/events/{empty['id']}", headers=h).status_code == 200
    assert [e["id"] for e in client.get(f"/api/v1/services/{cap['id']}/events", headers=h).json()["items"]] == [
        ev["id"]
    ]


def test_a_quarter_of_availability_at_once(client: httpx.Client, ente_ctx) -> None:
    svc = setup_service(client, ente_ctx, horizon_days=120)
    d = datetime.now(ROME).date()
    ok = client.get(
        f"/api/v1/services/{svc['id']}/availability",
        headers=ente_ctx.headers("service"),
        params={"from": d.isoformat(), "to": (d + timedelta(days=92)).isoformat()},
    )
    assert ok.status_code == 200 and ok.json()["total"] > 80 * 9
    too_long = client.get(
        f"/api/v1/services/{svc['id']}/availability",
        headers=ente_ctx.headers("service"),
        params={"from": d.isoformat(), "to": (d + timedelta(days=93)).isoformat()},
    )
    assert too_long.status_code == 422 and too_long.json()["error"]["fields"] == {"to": "range too long"}

"""Booking centre through the HTTP API: calendars, availability (holidays, DST), constraints, concurrency."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import is_test_holiday, working_days

ROME = ZoneInfo("Europe/Rome")
FORM = {"type": "object", "required": ["first_name"], "properties": {"first_name": {"type": "string", "minLength": 1}}}
_n = iter(range(10**6))


def setup_service(
    client: httpx.Client,
    ente_ctx,
    *,
    kind: str = "resource",
    resources: int = 1,  # type: ignore[no-untyped-def]
    hours: list | None = None,
    **extra,
) -> dict:  # type: ignore[type-arg]
    h = ente_ctx.headers("admin")
    loc = client.post("/api/v1/locations", json={"name": "Municipio"}, headers=h).json()
    res_ids = [
        client.post("/api/v1/resources", json={"name": f"Sportello {i}", "location_id": loc["id"]}, headers=h).json()[
            "id"
        ]
        for i in range(resources)
    ]
    body = {
        "slug": f"svc-{next(_n)}",
        "code_prefix": "AN",
        "name": "Carta d'identità",
        "kind": kind,
        "slot_minutes": 20,
        "resource_ids": res_ids,
        "min_notice_hours": 1,
        **extra,
    }
    r = client.post("/api/v1/services", json=body, headers=h)
    assert r.status_code == 201, r.text
    svc = r.json()
    hours = hours if hours is not None else [{"weekday": d, "start": "09:00", "end": "12:00"} for d in range(7)]
    assert client.put(f"/api/v1/services/{svc['id']}/hours", json={"hours": hours}, headers=h).status_code == 200
    svc["location_id"], svc["resource_ids"] = loc["id"], res_ids
    return svc


def contact(client: httpx.Client, ente_ctx) -> int:  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/contacts",
        json={"first_name": "Ada", "phones": [f"+39 345 {next(_n):07d}"]},
        headers=ente_ctx.headers("operator"),
    ).json()["id"]


def slots(client: httpx.Client, ente_ctx, svc: dict, d_from: date, d_to: date | None = None) -> list[dict]:  # type: ignore[no-untyped-def]
    r = client.get(
        f"/api/v1/services/{svc['id']}/availability",
        params={"from": d_from.isoformat(), "to": (d_to or d_from).isoformat()},
        headers=ente_ctx.headers("service"),
    )
    assert r.status_code == 200, r.text
    return r.json()["items"]


def next_weekday(wd: int, after_days: int = 2) -> date:
    """The first ``wd`` at least ``after_days`` from today that is no holiday for the test entes."""
    d = datetime.now(ROME).date() + timedelta(days=after_days)
    while d.weekday() != wd or is_test_holiday(d):
        d += timedelta(days=1)
    return d


def test_availability_is_in_rome_time_and_skips_holidays(client: httpx.Client, ente_ctx) -> None:
    svc = setup_service(
        client,
        ente_ctx,
        hours=[{"weekday": d, "start": "09:00", "end": "12:00"} for d in range(5)]
        + [{"weekday": 1, "start": "14:00", "end": "15:00"}],
    )
    tue = next_weekday(1)
    day = slots(client, ente_ctx, svc, tue)
    starts = [s["start"] for s in day]
    assert len(day) == 9 + 3 and starts[0] == f"{tue.isoformat()}T09:00:00+01:00"
    assert f"{tue.isoformat()}T14:40:00+01:00" in starts and day[0]["end"].endswith("09:20:00+01:00")
    assert day[0]["remaining"] == 1 and day[0]["resource_id"] == svc["resource_ids"][0]
    sunday = next_weekday(6)
    assert slots(client, ente_ctx, svc, sunday) == []
    assert slots(client, ente_ctx, svc, date(2026, 12, 8)) == []  # Immacolata
    assert slots(client, ente_ctx, svc, date(2027, 6, 29)) == []  # patron saint of the test ente (beyond horizon too)


def test_closures_extra_openings_and_dst(client: httpx.Client, ente_ctx) -> None:
    svc = setup_service(client, ente_ctx, horizon_days=366)
    h = ente_ctx.headers("admin")
    closed = next_weekday(2)
    client.post(f"/api/v1/services/{svc['id']}/exceptions", json={"day": closed.isoformat(), "closed": True}, headers=h)
    assert slots(client, ente_ctx, svc, closed) == []
    client.post(
        f"/api/v1/services/{svc['id']}/exceptions",
        json={"day": "2026-12-25", "closed": False, "start": "10:00", "end": "11:00"},
        headers=h,
    )
    assert [s["start"][11:16] for s in slots(client, ente_ctx, svc, date(2026, 12, 25))] == ["10:00", "10:20", "10:40"]
    # the clocks change on the last Sunday of March and October: same local hours, different offsets
    assert slots(client, ente_ctx, svc, date(2027, 3, 21))[0]["start"] == "2027-03-21T09:00:00+01:00"
    # 28 March 2027 is also Easter Sunday (closed): an extra opening that day shows the new offset
    assert slots(client, ente_ctx, svc, date(2027, 3, 28)) == []
    client.post(
        f"/api/v1/services/{svc['id']}/exceptions",
        json={"day": "2027-03-28", "closed": False, "start": "09:00", "end": "10:00"},
        headers=h,
    )
    assert slots(client, ente_ctx, svc, date(2027, 3, 28))[0]["start"] == "2027-03-28T09:00:00+02:00"
    assert slots(client, ente_ctx, svc, date(2027, 10, 24))[0]["start"] == "2027-10-24T09:00:00+02:00"
    late = slots(client, ente_ctx, svc, date(2027, 10, 31))
    assert late[0]["start"] == "2027-10-31T09:00:00+01:00" and len(late) == 9


def test_book_cancel_reschedule_ics(client: httpx.Client, ente_ctx) -> None:
    svc = setup_service(client, ente_ctx, what_to_bring="fototessera", form_schema=FORM)
    cid = contact(client, ente_ctx)
    day = slots(client, ente_ctx, svc, next_weekday(3))
    h = ente_ctx.headers("service")
    body = {"service_id": svc["id"], "start": day[0]["start"], "contact_id": cid, "fields": {"first_name": "Ada"}}
    r = client.post("/api/v1/bookings", json=body, headers={**h, "Idempotency-Key": f"k-{cid}"})
    assert r.status_code == 201, r.text
    b = r.json()
    assert re.fullmatch(r"AN-[ACDEFGHJKLMNPQRTUVWXY34679]{5}", b["code"]) and b["what_to_bring"] == "fototessera"
    assert b["booked_by_kind"] == "bot" and b["start"] == day[0]["start"]
    again = client.post("/api/v1/bookings", json=body, headers={**h, "Idempotency-Key": f"k-{cid}"})
    assert again.status_code == 200 and again.json()["id"] == b["id"]
    assert day[0]["start"] not in [s["start"] for s in slots(client, ente_ctx, svc, next_weekday(3))]
    other = contact(client, ente_ctx)
    taken = client.post("/api/v1/bookings", json={**body, "contact_id": other}, headers=h)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "slot_taken"
    ics = client.get(f"/api/v1/bookings/{b['id']}.ics", headers=h)
    assert ics.status_code == 200 and "BEGIN:VEVENT" in ics.text and b["code"] in ics.text
    moved = client.post(f"/api/v1/bookings/{b['id']}/reschedule", json={"start": day[1]["start"]}, headers=h)
    assert moved.status_code == 201 and moved.json()["rescheduled_from_id"] == b["id"]
    assert client.get(f"/api/v1/bookings/{b['id']}", headers=h).json()["status"] == "cancelled"
    mine = client.get("/api/v1/bookings", params={"contact_id": cid}, headers=h).json()["items"]
    assert [x["status"] for x in mine] == ["confirmed", "cancelled"] or [x["status"] for x in mine] == [
        "cancelled",
        "confirmed",
    ]
    assert (
        client.post(f"/api/v1/bookings/{moved.json()['id']}/attended", headers=ente_ctx.headers("operator")).status_code
        == 409
    )  # not started yet
    c = client.post(f"/api/v1/bookings/{moved.json()['id']}/cancel", json={}, headers=ente_ctx.headers("operator"))
    assert c.status_code == 200 and c.json()["status"] == "cancelled"
    assert client.post(f"/api/v1/bookings/{moved.json()['id']}/cancel", json={}, headers=h).status_code == 409


def test_constraints_are_422_with_reasons(client: httpx.Client, ente_ctx) -> None:
    svc = setup_service(client, ente_ctx, form_schema=FORM, one_active_per_citizen=True)
    cid = contact(client, ente_ctx)
    h = ente_ctx.headers("service")
    day = slots(client, ente_ctx, svc, next_weekday(4))
    base = {"service_id": svc["id"], "contact_id": cid, "fields": {"first_name": "Ada"}}
    cases = {
        "in the past": "2020-01-07T09:00:00+01:00",
        "beyond horizon": "2030-01-08T09:00:00+01:00",
        "not a slot start": day[0]["start"].replace(":00:00+", ":07:00+"),
    }
    for reason, start in cases.items():
        r = client.post("/api/v1/bookings", json={**base, "start": start}, headers=h)
        assert r.status_code == 422 and reason in " ".join(r.json()["error"]["fields"].values()), (reason, r.text)
    assert (
        client.post("/api/v1/bookings", json={**base, "start": "2026-12-08T09:00:00+01:00"}, headers=h).json()["error"][
            "fields"
        ]["start"]
        == "closed day"
    )
    naive = client.post("/api/v1/bookings", json={**base, "start": day[0]["start"][:19]}, headers=h)
    assert naive.status_code == 422 and "start" in naive.json()["error"]["fields"]
    assert client.post("/api/v1/bookings", json={**base, "start": "domani"}, headers=h).status_code == 422
    unknown = client.post("/api/v1/bookings", json={**base, "service_id": 999999, "start": day[0]["start"]}, headers=h)
    assert unknown.status_code == 422
    form = client.post("/api/v1/bookings", json={**base, "fields": {}, "start": day[0]["start"]}, headers=h)
    assert form.status_code == 422 and "fields.first_name" in form.json()["error"]["fields"]
    assert client.post("/api/v1/bookings", json={**base, "start": day[0]["start"]}, headers=h).status_code == 201
    second = client.post("/api/v1/bookings", json={**base, "start": day[2]["start"]}, headers=h)
    assert second.status_code == 422 and second.json()["error"]["fields"] == {
        "contact_id": "one active booking per citizen"
    }
    bad_dates = client.get(
        f"/api/v1/services/{svc['id']}/availability", params={"from": "2026-13-01", "to": "x"}, headers=h
    )
    assert bad_dates.status_code == 422


def _fire(url: str, headers: dict, bodies: list[dict]) -> list[int]:  # type: ignore[type-arg]
    def one(body: dict) -> int:  # type: ignore[type-arg]
        with httpx.Client(base_url=url, timeout=60) as c:
            return c.post("/api/v1/bookings", json=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        return list(pool.map(one, bodies))


@pytest.mark.parametrize("kind,resources,capacity", [("resource", 1, 1), ("multi_resource", 3, 3)])
def test_forty_concurrent_bookings_of_one_slot(
    server,
    client: httpx.Client,
    ente_ctx,
    kind: str,
    resources: int,  # type: ignore[no-untyped-def]
    capacity: int,
) -> None:
    svc = setup_service(client, ente_ctx, kind=kind, resources=resources)
    start = slots(client, ente_ctx, svc, next_weekday(1))[0]["start"]
    people = [contact(client, ente_ctx) for _ in range(40)]
    bodies = [{"service_id": svc["id"], "start": start, "contact_id": p} for p in people]
    codes = _fire(server.url, ente_ctx.headers("service"), bodies)
    assert codes.count(201) == capacity and codes.count(409) == 40 - capacity, codes
    booked = client.get(
        "/api/v1/bookings",
        params={"service_id": svc["id"], "status": "confirmed"},
        headers=ente_ctx.headers("operator"),
    ).json()
    assert booked["total"] == capacity
    assert len({b["resource_id"] for b in booked["items"]}) == capacity


def test_last_seats_of_a_capacity_event(server, client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    svc = setup_service(client, ente_ctx, kind="capacity", resources=0, hours=[])
    when = datetime.combine(next_weekday(5), datetime.min.time(), ROME).replace(hour=10)
    ev = client.post(
        f"/api/v1/services/{svc['id']}/events",
        headers=ente_ctx.headers("admin"),
        json={
            "title": "Open day",
            "location_id": svc["location_id"],
            "start": when.isoformat(),
            "end": (when + timedelta(hours=2)).isoformat(),
            "seats": 5,
        },
    )
    assert ev.status_code == 201
    avail = slots(client, ente_ctx, svc, when.date())
    assert avail == [
        {
            "start": when.isoformat(),
            "end": (when + timedelta(hours=2)).isoformat(),
            "remaining": 5,
            "location_id": svc["location_id"],
            "event_id": ev.json()["id"],
        }
    ]
    people = [contact(client, ente_ctx) for _ in range(40)]
    codes = _fire(
        server.url,
        ente_ctx.headers("service"),
        [{"service_id": svc["id"], "start": when.isoformat(), "contact_id": p} for p in people],
    )
    assert codes.count(201) == 5 and codes.count(409) == 35, codes
    assert slots(client, ente_ctx, svc, when.date()) == []


def test_notifications_once_and_reminders(client: httpx.Client, ente_ctx, db) -> None:
    from sqlalchemy import select

    from crm.bookings import service
    from crm.notifications.models import Notification

    svc = setup_service(client, ente_ctx)
    cid = client.post(
        "/api/v1/contacts",
        json={"first_name": "Bea", "phones": ["+39 333 7654321"], "preferred_channel": "sms"},
        headers=ente_ctx.headers("operator"),
    ).json()["id"]
    start = slots(client, ente_ctx, svc, working_days(1))
    tomorrow = [s for s in start]
    assert tomorrow
    b = client.post(
        "/api/v1/bookings",
        json={"service_id": svc["id"], "start": tomorrow[-1]["start"], "contact_id": cid},
        headers=ente_ctx.headers("operator"),
    ).json()

    async def reminders(s):  # type: ignore[no-untyped-def]
        first = await service.send_reminders(s, hours_before=48, ente_id=ente_ctx.ente_id)
        second = await service.send_reminders(s, hours_before=48, ente_id=ente_ctx.ente_id)
        return first, second

    assert db.run(reminders) == (1, 0)

    async def queued(s):  # type: ignore[no-untyped-def]
        rows = (await s.scalars(select(Notification).where(Notification.contact_id == cid))).all()
        return sorted((n.kind, n.channel) for n in rows), [n.text for n in rows]

    kinds, texts = db.run(queued)
    assert kinds == [("booking.confirmed", "sms"), ("booking.reminder", "sms")]
    assert any(b["code"] in t and "confermato" in t for t in texts)


def test_roles_and_isolation(client: httpx.Client, ente_ctx, other_ente) -> None:
    svc = setup_service(client, ente_ctx)
    assert (
        client.post(
            "/api/v1/services",
            json={"slug": "x", "code_prefix": "XX", "name": "X"},
            headers=ente_ctx.headers("phone_operator"),
        ).status_code
        == 403
    )
    assert (
        client.get(
            f"/api/v1/services/{svc['id']}/availability",
            params={"from": "2026-12-01", "to": "2026-12-01"},
            headers=other_ente.headers("service"),
        ).status_code
        == 404
    )
    # a phone operator books on behalf of a caller, recorded as such
    cid = contact(client, ente_ctx)
    start = slots(client, ente_ctx, svc, next_weekday(2))[0]["start"]
    r = client.post(
        "/api/v1/bookings",
        json={"service_id": svc["id"], "start": start, "contact_id": cid, "on_behalf": True, "channel": "phone"},
        headers=ente_ctx.headers("phone_operator"),
    )
    assert r.status_code == 201 and r.json()["on_behalf"] is True
    assert r.json()["booked_by_operator_id"] == ente_ctx.operator_ids["phone_operator"]


def test_lookup_by_code_and_second_factor_then_cancel(client: httpx.Client, ente_ctx, other_ente) -> None:  # type: ignore[no-untyped-def]
    """A citizen writing from a channel that is not their own proves who they are with the booking code plus the
    phone digits or fiscal code (of the contact, or given in the booking form), then cancels."""
    svc = setup_service(client, ente_ctx, form_schema=FORM, cancel_deadline_hours=24)
    h = ente_ctx.headers("service")
    phone = f"+39 345 {next(_n):07d}"
    cid = client.post(
        "/api/v1/contacts", json={"first_name": "Ada", "phones": [phone]}, headers=ente_ctx.headers("operator")
    ).json()["id"]
    start = slots(client, ente_ctx, svc, next_weekday(3, after_days=3))[0]["start"]
    b = client.post(
        "/api/v1/bookings",
        json={
            "service_id": svc["id"],
            "start": start,
            "contact_id": cid,
            "fields": {"first_name": "Ada", "fiscal_code": "RSSMRA85M01H501Q"},
        },
        headers=h,
    ).json()

    def look(code: str, factor: str, caller: str = "tg:1", headers: dict | None = None) -> httpx.Response:  # type: ignore[type-arg]
        return client.post(
            "/api/v1/bookings/lookup",
            json={"code": code, "second_factor": factor},
            headers={**(headers or h), "X-Citizen-Key": caller},
        )

    by_phone = look(b["code"].lower(), phone[-4:])
    assert by_phone.status_code == 200, by_phone.text
    found = by_phone.json()
    assert found["id"] == b["id"] and found["status"] == "confirmed" and found["cancellable"] is True
    assert found["service_name"] == "Carta d'identità" and found["start"] == start
    assert "fields" not in found and "contact_id" not in found  # nothing personal beyond what proves the booking
    assert look(b["code"], "rssmra85m01h501q").status_code == 200  # the form's fiscal code, any case
    wrong = look(b["code"], "0000")
    assert (
        wrong.status_code == 404
        and wrong.json()["error"]["message"] == "no booking matches this code and second factor"
    )
    assert look("AN-ZZZZZ", phone[-4:]).status_code == 404  # unknown code: the same answer
    assert look(b["code"], phone[-4:], headers=other_ente.headers("service")).status_code == 404  # other ente
    assert client.post("/api/v1/bookings/lookup", json={"code": b["code"]}, headers=h).status_code == 422
    assert (
        client.post(
            "/api/v1/bookings/lookup",
            json={"code": b["code"], "second_factor": phone[-4:]},
            headers=ente_ctx.headers("phone_operator"),
        ).status_code
        == 200
    )

    # the throttle per code: 5 failures in all, then even the right factor waits
    for _ in range(4):
        assert look(b["code"], "1111", caller="tg:guesser").status_code == 404
    throttled = look(b["code"], phone[-4:], caller="tg:2")
    assert throttled.status_code == 429 and 0 < int(throttled.headers["retry-after"]) <= 900

    # the look-up is audited, and the id it gave cancels the booking
    audit = client.get(
        "/api/v1/audit", params={"entity": "booking", "entity_id": b["id"]}, headers=ente_ctx.headers("admin")
    ).json()["items"]
    assert "lookup" in [a["action"] for a in audit]
    assert client.post(f"/api/v1/bookings/{found['id']}/cancel", json={}, headers=h).json()["status"] == "cancelled"


def test_booking_codes_never_look_like_request_or_istanza_codes(client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    for prefix in ("RQ", "IS"):
        r = client.post(
            "/api/v1/services",
            json={"slug": f"x-{next(_n)}", "code_prefix": prefix, "name": "X"},
            headers=ente_ctx.headers("admin"),
        )
        assert r.status_code == 422 and "code_prefix" in r.json()["error"]["fields"], r.text


def test_reminders_go_out_in_bounded_batches(client: httpx.Client, ente_ctx, db) -> None:  # type: ignore[no-untyped-def]
    """The scheduler's reminder job writes a batch per transaction (never one transaction for every due booking):
    batches of 2 over 5 due bookings give 2, 2, 1, then nothing; each booking reminded once."""
    from crm.bookings import service

    svc = setup_service(client, ente_ctx)
    day = slots(client, ente_ctx, svc, working_days(1))[:5]
    assert len(day) == 5
    for s in day:
        r = client.post(
            "/api/v1/bookings",
            json={"service_id": svc["id"], "start": s["start"], "contact_id": contact(client, ente_ctx)},
            headers=ente_ctx.headers("operator"),
        )
        assert r.status_code == 201, r.text

    async def batch(s):  # type: ignore[no-untyped-def]
        return await service.send_reminders(s, hours_before=48, ente_id=ente_ctx.ente_id, limit=2)

    assert [db.run(batch) for _ in range(4)] == [2, 2, 1, 0]

"""Bookings administration in the console (admins): locations, resources, services, weekly hours with breaks,
a resource's own hours, closures, withdrawal, capacity events' seats. Driven over HTTP against the real server;
the effects are checked through the REST API (availability, services, events)."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.conftest import working_days
from tests.console.test_console import csrf, login
from tests.console.test_console_screens import _contact, check_page

ROME = ZoneInfo("Europe/Rome")


def _u(r: httpx.Response) -> str:
    return html.unescape(r.text)


def _post(c: httpx.Client, url: str, data: dict[str, Any], token: str) -> httpx.Response:
    return c.post(url, data={"csrf": token, **data})


def _ok_page(c: httpx.Client, url: str) -> str:
    r = c.get(url)
    assert r.status_code == 200, r.text
    check_page(r.text)
    return r.text


def _slots(client: httpx.Client, ente_ctx, service_id: int, day) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    r = client.get(
        f"/api/v1/services/{service_id}/availability",
        params={"from": day.isoformat(), "to": day.isoformat()},
        headers=ente_ctx.headers("service"),
    )
    assert r.status_code == 200, r.text
    return r.json()["items"]


def _times(slots: list[dict[str, Any]]) -> dict[str, int]:
    return {datetime.fromisoformat(x["start"]).astimezone(ROME).strftime("%H:%M"): x["remaining"] for x in slots}


def test_admin_places_services_hours_closures_withdraw(server, client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    h = ente_ctx.headers("admin")
    admin = login(server, ente_ctx, "admin")
    page = _ok_page(admin, "/console/bookings")
    assert 'href="/console/bookings/services"' in page and 'href="/console/bookings/places"' in page
    token = csrf(page)

    # a location and two resources
    _ok_page(admin, "/console/bookings/places")
    r = _post(admin, "/console/bookings/locations", {"name": "Municipio", "address": "Piazza Grande 1"}, token)
    assert r.status_code == 303 and r.headers["location"] == "/console/bookings/places?esito=sede"
    bad = _post(admin, "/console/bookings/locations", {"name": "M"}, token)
    assert bad.status_code == 422 and "Valore troppo breve" in _u(bad)
    check_page(bad.text)
    loc = next(x for x in client.get("/api/v1/locations", headers=h).json()["items"] if x["name"] == "Municipio")
    for name in ("Sportello A", "Sportello B"):
        r = _post(admin, "/console/bookings/resources", {"name": name, "location_id": str(loc["id"])}, token)
        assert r.status_code == 303
    res = {x["name"]: x["id"] for x in client.get("/api/v1/resources", headers=h).json()["items"]}
    ra, rb = res["Sportello A"], res["Sportello B"]
    r = _post(
        admin, f"/console/bookings/resources/{rb}", {"name": "Sportello Bis", "location_id": str(loc["id"])}, token
    )
    assert r.status_code == 303
    page = admin.get(r.headers["location"]).text
    assert "Sportello Bis" in page and 'role="status"' in page and "Risorsa aggiornata." in page
    check_page(page)

    # a service delivered by both resources
    _ok_page(admin, "/console/bookings/services/new")
    body = {
        "name": "Anagrafe",
        "description": "Certificati",
        "kind": "multi_resource",
        "slot_minutes": "30",
        "buffer_before_minutes": "0",
        "buffer_after_minutes": "0",
        "min_notice_hours": "0",
        "horizon_days": "60",
        "cancel_deadline_hours": "24",
        "max_per_day_per_citizen": "1",
        "max_active_per_citizen": "3",
        "what_to_bring": "Documento",
        "resource_ids": [str(ra), str(rb)],
    }
    refused = _post(admin, "/console/bookings/services", {**body, "slot_minutes": "2"}, token)
    assert refused.status_code == 422 and "Valore fuori dall'intervallo consentito" in _u(refused)
    assert 'value="Anagrafe"' in _u(refused)  # the values typed are kept
    check_page(refused.text)
    r = _post(admin, "/console/bookings/services", body, token)
    assert r.status_code == 303, r.text
    sid = int(re.search(r"/services/(\d+)\?esito=creato", r.headers["location"]).group(1))
    svc = client.get(f"/api/v1/services/{sid}", headers=h).json()
    assert svc["kind"] == "multi_resource" and svc["slot_minutes"] == 30 and svc["code_prefix"] == "AN"
    assert sorted(svc["resource_ids"]) == sorted([ra, rb])
    _ok_page(admin, "/console/bookings/services")
    _ok_page(admin, f"/console/bookings/services/{sid}/edit")

    # weekly hours with a break, every day
    page = _ok_page(admin, f"/console/bookings/services/{sid}")
    rows = [(d, "09:00", "12:00") for d in range(7)] + [(d, "14:00", "16:00") for d in range(7)]
    r = _post(
        admin,
        f"/console/bookings/services/{sid}/hours",
        {"weekday": [str(d) for d, _, _ in rows], "start": [a for _, a, _ in rows], "end": [b for _, _, b in rows]},
        token,
    )
    assert r.status_code == 303, r.text
    assert "Orario settimanale salvato." in _u(admin.get(r.headers["location"]))
    overlap = _post(
        admin,
        f"/console/bookings/services/{sid}/hours",
        {"weekday": ["0", "0"], "start": ["09:00", "11:00"], "end": ["12:00", "13:00"]},
        token,
    )
    assert overlap.status_code == 422 and "si sovrappongono" in _u(overlap)
    check_page(overlap.text)
    backwards = _post(
        admin,
        f"/console/bookings/services/{sid}/hours",
        {"weekday": ["0"], "start": ["12:00"], "end": ["09:00"]},
        token,
    )
    assert backwards.status_code == 422 and "l'ora di fine deve seguire quella di inizio" in _u(backwards)
    day = working_days(3, run=2)  # this day and the next have the template's slots (not 7 and 8 December)
    times = _times(_slots(client, ente_ctx, sid, day))
    assert times == {
        t: 2 for t in ("09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "14:00", "14:30", "15:00", "15:30")
    }

    # a closure: that day has no slot left
    r = _post(
        admin,
        f"/console/bookings/services/{sid}/exceptions",
        {"day": day.isoformat(), "closed": "1", "note": "Inventario"},
        token,
    )
    assert r.status_code == 303, r.text
    page = admin.get(r.headers["location"]).text
    assert "Inventario" in page and "Chiuso" in page
    check_page(page)
    assert _slots(client, ente_ctx, sid, day) == []
    incomplete = _post(
        admin, f"/console/bookings/services/{sid}/exceptions", {"day": day.isoformat(), "closed": "0"}, token
    )
    assert incomplete.status_code == 422 and "apertura straordinaria" in _u(incomplete)
    # one resource with its own hours: A only 09:00-10:00, B keeps the service's template
    other = day + timedelta(days=1)
    page = _ok_page(admin, f"/console/bookings/services/{sid}?calendario={ra}")
    assert f'name="resource_id" value="{ra}"' in page
    r = _post(
        admin,
        f"/console/bookings/services/{sid}/hours",
        {"resource_id": str(ra), "weekday": [str(d) for d in range(7)], "start": ["09:00"] * 7, "end": ["10:00"] * 7},
        token,
    )
    assert r.status_code == 303 and f"calendario={ra}" in r.headers["location"]
    assert "Orario proprio della risorsa salvato." in _u(admin.get(r.headers["location"]))
    times = _times(_slots(client, ente_ctx, sid, other))
    assert times["09:00"] == 2 and times["09:30"] == 2 and times["10:00"] == 1 and times["15:30"] == 1
    hours = client.get(f"/api/v1/services/{sid}/hours", headers=h).json()["items"]
    assert sum(1 for x in hours if x["resource_id"] == ra) == 7
    # the exceptions list offers deletion
    exc_id = client.get(f"/api/v1/services/{sid}/exceptions", headers=h).json()["items"][0]["id"]
    r = _post(admin, f"/console/bookings/services/{sid}/exceptions/{exc_id}/delete", {}, token)
    assert r.status_code == 303
    assert _slots(client, ente_ctx, sid, day) != []

    # edit the service
    r = _post(
        admin,
        f"/console/bookings/services/{sid}",
        {**body, "name": "Anagrafe centrale", "resource_ids": [str(ra)]},
        token,
    )
    assert r.status_code == 303, r.text
    svc = client.get(f"/api/v1/services/{sid}", headers=h).json()
    assert svc["name"] == "Anagrafe centrale" and svc["resource_ids"] == [ra]

    # deactivate a resource: the page says how many bookings still need moving
    r = _post(admin, f"/console/bookings/resources/{rb}/active", {"active": "0"}, token)
    assert r.status_code == 303
    page = admin.get(r.headers["location"]).text
    assert "Risorsa disattivata" in page and "Nessuna prenotazione confermata da spostare." in page
    check_page(page)

    # withdraw: the REST list no longer shows the service; reactivate brings it back
    r = _post(admin, f"/console/bookings/services/{sid}/active", {"active": "0", "back": "elenco"}, token)
    assert r.status_code == 303 and r.headers["location"] == "/console/bookings/services?esito=ritirato"
    page = admin.get(r.headers["location"]).text
    assert "Ritirato" in page and "Riattiva" in page
    listed = client.get("/api/v1/services", headers=ente_ctx.headers("service")).json()["items"]
    assert sid not in [x["id"] for x in listed]
    r = _post(admin, f"/console/bookings/services/{sid}/active", {"active": "1"}, token)
    listed = client.get("/api/v1/services", headers=ente_ctx.headers("service")).json()["items"]
    assert sid in [x["id"] for x in listed]
    # every change is audited
    log = client.get("/api/v1/audit", params={"entity": "service", "entity_id": str(sid)}, headers=h)
    assert log.status_code == 200, log.text
    assert {"create", "update", "deactivate", "activate"} <= {x["action"] for x in log.json()["items"]}
    for entity in ("location", "resource", "service_hours", "booking_exception"):
        assert client.get("/api/v1/audit", params={"entity": entity}, headers=h).json()["items"], entity


def test_admin_capacity_event_seats(server, client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    h = ente_ctx.headers("admin")
    loc = client.post("/api/v1/locations", json={"name": "Sala consiliare"}, headers=h).json()
    admin = login(server, ente_ctx, "admin")
    token = csrf(_ok_page(admin, "/console/bookings/services"))
    r = _post(
        admin,
        "/console/bookings/services",
        {
            "name": "Incontro pubblico",
            "kind": "capacity",
            "slot_minutes": "60",
            "min_notice_hours": "0",
            "horizon_days": "60",
            "cancel_deadline_hours": "1",
            "max_per_day_per_citizen": "1",
            "max_active_per_citizen": "3",
            "buffer_before_minutes": "0",
            "buffer_after_minutes": "0",
        },
        token,
    )
    assert r.status_code == 303, r.text
    sid = int(re.search(r"/services/(\d+)", r.headers["location"]).group(1))
    day = datetime.now(ROME).date() + timedelta(days=5)
    r = _post(
        admin,
        f"/console/bookings/services/{sid}/events",
        {
            "title": "Bilancio partecipato",
            "location_id": str(loc["id"]),
            "day": day.isoformat(),
            "start": "18:00",
            "end": "20:00",
            "seats": "2",
        },
        token,
    )
    assert r.status_code == 303, r.text
    page = _ok_page(admin, r.headers["location"])
    assert "Bilancio partecipato" in page and "Evento aggiunto." in page
    ev = client.get(f"/api/v1/services/{sid}/events", headers=h).json()["items"][0]
    assert ev["seats"] == 2 and ev["booked"] == 0
    r = _post(admin, f"/console/bookings/services/{sid}/events/{ev['id']}/seats", {"seats": "5"}, token)
    assert r.status_code == 303
    assert client.get(f"/api/v1/services/{sid}/events", headers=h).json()["items"][0]["seats"] == 5
    # two seats booked through the REST API
    for name in ("Ada", "Bruno"):
        b = client.post(
            "/api/v1/bookings",
            json={"service_id": sid, "start": ev["start"], "contact_id": _contact(client, ente_ctx, name)},
            headers=ente_ctx.headers("service"),
        )
        assert b.status_code == 201, b.text
    lower = _post(admin, f"/console/bookings/services/{sid}/events/{ev['id']}/seats", {"seats": "1"}, token)
    assert lower.status_code == 409 and "Non si possono avere meno posti di quelli già prenotati." in _u(lower)
    assert "Non può essere inferiore ai posti già prenotati." in _u(lower)
    check_page(lower.text)
    ev = client.get(f"/api/v1/services/{sid}/events", headers=h).json()["items"][0]
    assert ev["seats"] == 5 and ev["booked"] == 2
    refused = _post(admin, f"/console/bookings/services/{sid}/events/{ev['id']}/delete", {}, token)
    assert refused.status_code == 409 and "L'evento ha prenotazioni" in _u(refused)
    check_page(refused.text)
    assert len(client.get(f"/api/v1/services/{sid}/events", headers=h).json()["items"]) == 1
    # an empty event can go
    r = _post(
        admin,
        f"/console/bookings/services/{sid}/events",
        {
            "title": "Prova",
            "location_id": str(loc["id"]),
            "day": day.isoformat(),
            "start": "10:00",
            "end": "11:00",
            "seats": "3",
        },
        token,
    )
    empty = next(
        x for x in client.get(f"/api/v1/services/{sid}/events", headers=h).json()["items"] if x["title"] == "Prova"
    )
    r = _post(admin, f"/console/bookings/services/{sid}/events/{empty['id']}/delete", {}, token)
    assert r.status_code == 303 and "evento_tolto" in r.headers["location"]
    assert len(client.get(f"/api/v1/services/{sid}/events", headers=h).json()["items"]) == 1


def test_admin_pages_roles_and_csrf(server, client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    h = ente_ctx.headers("admin")
    loc = client.post("/api/v1/locations", json={"name": "Municipio"}, headers=h).json()
    svc = client.post(
        "/api/v1/services",
        headers=h,
        json={"slug": "tributi", "code_prefix": "TR", "name": "Tributi", "kind": "capacity"},
    ).json()
    for who in ("operator", "phone_operator"):
        c = login(server, ente_ctx, who)
        page = c.get("/console/bookings")
        assert page.status_code == 200 and 'href="/console/bookings/services"' not in _u(page)
        token = csrf(page.text)
        for url in (
            "/console/bookings/services",
            "/console/bookings/services/new",
            "/console/bookings/places",
            f"/console/bookings/services/{svc['id']}",
            f"/console/bookings/services/{svc['id']}/edit",
        ):
            r = c.get(url)
            assert r.status_code == 403 and "Il suo ruolo non consente" in _u(r), url
        assert _post(c, "/console/bookings/locations", {"name": "Abusiva"}, token).status_code == 403
        assert _post(c, f"/console/bookings/services/{svc['id']}/active", {"active": "0"}, token).status_code == 403
    assert client.get(f"/api/v1/services/{svc['id']}", headers=h).json()["active"] is True
    assert [x["name"] for x in client.get("/api/v1/locations", headers=h).json()["items"]] == ["Municipio"]
    # no CSRF token, or another session's: refused
    admin = login(server, ente_ctx, "admin")
    r = admin.post("/console/bookings/locations", data={"name": "Senza token"})
    assert r.status_code == 403 and "modulo" in _u(r)
    r = admin.post(
        f"/console/bookings/services/{svc['id']}/events",
        data={"csrf": "x" * 40, "title": "T", "location_id": str(loc["id"])},
    )
    assert r.status_code == 403
    assert len(client.get("/api/v1/locations", headers=h).json()["items"]) == 1
    anon = httpx.Client(base_url=server.url, follow_redirects=False)
    assert anon.get("/console/bookings/services").headers["location"] == "/console/login"

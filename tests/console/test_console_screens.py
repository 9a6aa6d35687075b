"""Console screens for the phone desk, the booking agenda and the istanze back-office, driven over HTTP against the
real server: session login, forms with the CSRF token, results checked through the REST API."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.conftest import VALID_CF
from tests.console.test_console import csrf, login

ROME = ZoneInfo("Europe/Rome")
BOOKING_FORM = {
    "type": "object",
    "required": ["motivo", "documento"],
    "properties": {
        "motivo": {"type": "string", "title": "Motivo della visita", "minLength": 1},
        "documento": {"type": "string", "title": "Documento", "enum": ["CI", "passaporto"]},
        "scadenza": {"type": "string", "format": "date", "title": "Scadenza documento"},
    },
}
GENERIC = {
    "slug": "istanza-generica",
    "title": "Istanza generica",
    "form_schema": {
        "type": "object",
        "required": ["subject", "description"],
        "additionalProperties": False,
        "properties": {
            "subject": {"type": "string", "title": "Oggetto", "minLength": 1, "maxLength": 200},
            "description": {"type": "string", "title": "Descrizione", "minLength": 1},
        },
    },
}
_n = iter(range(10**6))
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.controls: list[dict[str, str]] = []
        self.described: list[str] = []
        self.headings: list[int] = []
        self.tables = self.captions = 0
        self.th_without_scope = 0
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if any(k.startswith("on") for k in a) or "javascript:" in a.get("href", ""):
            self.problems.append(f"inline script on <{tag}>")
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "label" and "for" in a:
            self.label_for.add(a["for"])
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit", "button"):
            self.controls.append(a)
        self.described += a.get("aria-describedby", "").split()
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        self.tables += tag == "table"
        self.captions += tag == "caption"
        self.th_without_scope += tag == "th" and "scope" not in a
        if tag == "script":
            self.in_script = "src" in a
            if "src" not in a:
                self.problems.append("inline <script>")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()


def check_page(text: str) -> None:
    """Structure and accessibility checks every console page must pass (WCAG 2.1 AA basics, CSP)."""
    a = _Audit()
    a.feed(text)
    problems = list(a.problems)
    if a.stack:
        problems.append(f"unclosed {a.stack}")
    dupes = {i for i in a.ids if a.ids.count(i) > 1}
    if dupes:
        problems.append(f"duplicate ids {dupes}")
    for c in a.controls:
        if not (c.get("id") in a.label_for or c.get("aria-label") or c.get("aria-labelledby")):
            problems.append(f"unlabelled control {c}")
    missing = [d for d in a.described if d not in a.ids]
    if missing:
        problems.append(f"aria-describedby to nothing: {missing}")
    if not a.headings or a.headings[0] != 1 or a.headings.count(1) != 1:
        problems.append(f"one h1 first: {a.headings}")
    if any(b - a_ > 1 for a_, b in zip(a.headings, a.headings[1:], strict=False)):
        problems.append(f"heading levels skipped: {a.headings}")
    if a.tables != a.captions or a.th_without_scope:
        problems.append("tables need a caption and th scope")
    assert not problems, problems


def _service(client: httpx.Client, ente_ctx, **extra: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    h = ente_ctx.headers("admin")
    loc = client.post("/api/v1/locations", json={"name": "Municipio"}, headers=h).json()
    res = client.post("/api/v1/resources", json={"name": "Sportello 1", "location_id": loc["id"]}, headers=h).json()
    body = {
        "slug": f"cie-{next(_n)}",
        "code_prefix": "AN",
        "name": "Carta d'identità",
        "kind": "resource",
        "slot_minutes": 20,
        "resource_ids": [res["id"]],
        "min_notice_hours": 1,
        "max_per_day_per_citizen": 5,
        "max_active_per_citizen": 10,
        **extra,
    }
    r = client.post("/api/v1/services", json=body, headers=h)
    assert r.status_code == 201, r.text
    svc = r.json()
    hours = [{"weekday": d, "start": "08:00", "end": "18:00"} for d in range(7)]
    assert client.put(f"/api/v1/services/{svc['id']}/hours", json={"hours": hours}, headers=h).status_code == 200
    return svc


def _slots(page: str) -> list[str]:
    return [html.unescape(v) for v in re.findall(r'name="slot" id="slot-\d+" value="([^"]+)"', page)]


def _contact(client: httpx.Client, ente_ctx, name: str = "Ada") -> int:  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/contacts",
        json={"first_name": name, "last_name": f"Rossi{next(_n)}", "phones": [f"+39 345 {next(_n):07d}"]},
        headers=ente_ctx.headers("operator"),
    ).json()["id"]


def _book_api(client: httpx.Client, ente_ctx, svc: dict[str, Any], cid: int, start: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.post(
        "/api/v1/bookings",
        json={"service_id": svc["id"], "start": start, "contact_id": cid},
        headers=ente_ctx.headers("service"),
    )
    assert r.status_code == 201, r.text
    return r.json()


def _free(client: httpx.Client, ente_ctx, svc: dict[str, Any]) -> list[str]:  # type: ignore[no-untyped-def]
    today = datetime.now(ROME).date()
    r = client.get(
        f"/api/v1/services/{svc['id']}/availability",
        params={"from": (today + timedelta(days=1)).isoformat(), "to": (today + timedelta(days=7)).isoformat()},
        headers=ente_ctx.headers("admin"),
    )
    return [x["start"] for x in r.json()["items"]]


# --- phone intake ---------------------------------------------------------------------------------------------------
def test_phone_intake_find_create_request_booking_istanza(server, client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    svc = _service(client, ente_ctx, form_schema=BOOKING_FORM, what_to_bring="fototessera")
    assert client.post("/api/v1/instance-types", json=GENERIC, headers=ente_ctx.headers("admin")).status_code == 201
    c = login(server, ente_ctx, "phone_operator")
    me, my_id = ente_ctx.usernames["phone_operator"], ente_ctx.operator_ids["phone_operator"]
    page = c.get("/console/intake")
    assert page.status_code == 200 and 'href="/console/intake"' in page.text and "/console/instances" not in page.text
    miss = c.get("/console/intake", params={"q": "3471234567"})
    assert "Nessun contatto trovato" in miss.text and 'value="3471234567"' in miss.text  # the form starts from it
    token = csrf(page.text)
    # the fiscal code is checked by the contacts service; the error is in Italian, next to the field
    bad = c.post(
        "/console/intake/contacts",
        data={
            "csrf": token,
            "first_name": "Mario",
            "last_name": "Bianchi",
            "phone": "347 1234567",
            "fiscal_code": "RSSMRA80A01H501X",
        },
    )
    assert bad.status_code == 422 and 'id="fiscal_code-err"' in bad.text and "Codice fiscale non valido" in bad.text
    assert 'aria-invalid="true"' in bad.text and 'value="Mario"' in bad.text
    made = c.post(
        "/console/intake/contacts",
        data={
            "csrf": token,
            "first_name": "Mario",
            "last_name": "<b>Bianchi</b>",
            "phone": "347 1234567",
            "fiscal_code": VALID_CF.lower(),
            "consent_privacy": "1",
        },
    )
    assert made.status_code == 303
    cid = int(re.fullmatch(r"/console/intake/(\d+)\?nuovo=1", made.headers["location"]).group(1))
    dup = c.post(
        "/console/intake/contacts",
        data={
            "csrf": token,
            "first_name": "Mario",
            "last_name": "Bis",
            "phone": "347 7654321",
            "fiscal_code": VALID_CF,
        },
    )
    assert dup.status_code == 409 and "già registrato" in dup.text and f"/console/intake/{cid}" in dup.text
    found = c.get("/console/intake", params={"q": "+39 347 123 4567"})
    assert f'href="/console/intake/{cid}"' in found.text
    assert "&lt;b&gt;Bianchi&lt;/b&gt;" in found.text and "<b>Bianchi</b>" not in found.text
    caller = c.get(f"/console/intake/{cid}?nuovo=1")
    assert caller.status_code == 200 and "Cittadino registrato" in caller.text and VALID_CF in caller.text
    assert "<b>Bianchi</b>" not in caller.text
    for page_ in (page, miss, bad, dup, found, caller):
        check_page(page_.text)

    # a request on the citizen's behalf
    assert c.post(f"/console/intake/{cid}/request", data={"kind": "report", "subject": "x"}).status_code == 403
    empty = c.post(
        f"/console/intake/{cid}/request", data={"csrf": token, "kind": "report", "priority": "alta", "subject": " "}
    )
    assert empty.status_code == 422 and 'id="rq-subject-err"' in empty.text and "Campo obbligatorio" in empty.text
    r = c.post(
        f"/console/intake/{cid}/request",
        data={
            "csrf": token,
            "kind": "report",
            "topic": "segnalazioni",
            "priority": "alta",
            "subject": "Lampione <rotto>",
            "description": "Via Roma 1",
        },
    )
    assert r.status_code == 303
    tid = int(re.fullmatch(rf"/console/intake/{cid}/done/request/(\d+)", r.headers["location"]).group(1))
    done = c.get(r.headers["location"])
    t = client.get(f"/api/v1/requests/{tid}", headers=ente_ctx.headers("admin")).json()
    assert t["on_behalf"] is True and t["created_by_operator_id"] == my_id and t["channel"] == "phone"
    assert t["contact_id"] == cid and t["priority"] == "alta" and t["topic"] == "segnalazioni"
    assert f"per conto del cittadino da {me}" in t["events"][0]["note"]
    assert t["code"] in done.text and f"Inserito per conto del cittadino da {me}" in done.text
    assert 'role="status"' in done.text and "Lampione &lt;rotto&gt;" in done.text
    check_page(empty.text)
    check_page(done.text)

    # a booking on the citizen's behalf: service, free slots by day, the service's form, book
    form = c.get(f"/console/intake/{cid}/book", params={"servizio": svc["id"]})
    assert form.status_code == 200 and "Motivo della visita" in form.text and "<legend" in form.text
    assert 'name="documento"' in form.text and 'type="date"' in form.text and 'aria-required="true"' in form.text
    slots = _slots(form.text)
    assert slots and all(s.count("|") == 2 for s in slots)
    idem = re.search(r'name="idem" value="([^"]+)"', form.text).group(1)
    base = {"csrf": token, "service_id": str(svc["id"]), "idem": idem, "slot": slots[0]}
    missing = c.post(f"/console/intake/{cid}/book", data={**base, "documento": "CI"})
    assert missing.status_code == 422 and 'id="f-motivo-err"' in missing.text and "Campo obbligatorio" in missing.text
    assert "checked" in missing.text  # the chosen slot is kept
    booked = c.post(
        f"/console/intake/{cid}/book", data={**base, "motivo": "rinnovo", "documento": "CI", "scadenza": "2030-01-31"}
    )
    assert booked.status_code == 303
    bid = int(re.fullmatch(rf"/console/intake/{cid}/done/booking/(\d+)", booked.headers["location"]).group(1))
    again = c.post(f"/console/intake/{cid}/book", data={**base, "motivo": "rinnovo", "documento": "CI"})
    assert again.headers["location"] == booked.headers["location"]  # a double submit books once
    b = client.get(f"/api/v1/bookings/{bid}", headers=ente_ctx.headers("admin")).json()
    assert b["on_behalf"] is True and b["channel"] == "phone" and b["booked_by_operator_id"] == my_id
    assert b["booked_by_kind"] == "operator" and b["contact_id"] == cid and b["start"] == slots[0].split("|")[0]
    assert b["fields"] == {"motivo": "rinnovo", "documento": "CI", "scadenza": "2030-01-31"}
    done = c.get(booked.headers["location"]).text
    assert b["code"] in done and f"Inserito per conto del cittadino da {me}" in done and "fototessera" in done
    taken = c.post(
        f"/console/intake/{cid}/book", data={**base, "idem": "another-key-123", "motivo": "x", "documento": "CI"}
    )
    assert taken.status_code == 409 and "non è più disponibile" in taken.text
    for page_ in (form, missing, taken):
        check_page(page_.text)

    # an istanza on the citizen's behalf, with its protocol number
    form = c.get(f"/console/intake/{cid}/instance", params={"tipo": "istanza-generica"})
    assert form.status_code == 200 and "Oggetto" in form.text and "<textarea" in form.text
    bad = c.post(
        f"/console/intake/{cid}/instance", data={"csrf": token, "type": "istanza-generica", "subject": "Copia delibera"}
    )
    assert bad.status_code == 422 and 'id="f-description-err"' in bad.text and "Copia delibera" in bad.text
    r = c.post(
        f"/console/intake/{cid}/instance",
        data={"csrf": token, "type": "istanza-generica", "subject": "Copia delibera", "description": "n. 12/2025"},
    )
    assert r.status_code == 303
    iid = int(re.fullmatch(rf"/console/intake/{cid}/done/instance/(\d+)", r.headers["location"]).group(1))
    inst = client.get(f"/api/v1/instances/{iid}", headers=ente_ctx.headers("admin")).json()
    assert inst["on_behalf"] is True and inst["created_by_operator_id"] == my_id and inst["contact_id"] == cid
    assert inst["protocol_number"] == f"{datetime.now().year}/000001"
    done = c.get(r.headers["location"]).text
    assert inst["code"] in done and inst["protocol_number"] in done
    assert f"Inserito per conto del cittadino da {me}" in done
    check_page(done)
    check_page(form.text)
    check_page(bad.text)
    # the caller's page lists the three, each marked as entered on their behalf
    caller = c.get(f"/console/intake/{cid}").text
    assert t["code"] in caller and b["code"] in caller and inst["code"] in caller
    assert caller.count(f"Inserito per conto del cittadino da {me}") == 3
    check_page(caller)
    audit = client.get(
        "/api/v1/audit", params={"entity": "contact", "entity_id": cid}, headers=ente_ctx.headers("admin")
    )
    assert any(e["action"] == "read" and e["actor_id"] == my_id for e in audit.json()["items"])


def test_roles_and_csrf(server, client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    cid = _contact(client, ente_ctx)
    client.post("/api/v1/instance-types", json=GENERIC, headers=ente_ctx.headers("admin"))
    inst = client.post(
        "/api/v1/instances",
        headers=ente_ctx.headers("service"),
        json={"type": "istanza-generica", "contact_id": cid, "data": {"subject": "s", "description": "d"}},
    ).json()
    bo = login(server, ente_ctx, "backoffice")
    page = bo.get("/console/instances")
    assert page.status_code == 200 and 'href="/console/instances"' in page.text
    assert 'href="/console/intake"' not in page.text  # not in the navigation either
    refused = bo.get("/console/intake")
    assert refused.status_code == 403 and "Il suo ruolo non consente" in refused.text
    check_page(refused.text)
    assert (
        bo.post(
            f"/console/intake/{cid}/request", data={"csrf": csrf(page.text), "kind": "other", "subject": "x"}
        ).status_code
        == 403
    )
    phone = login(server, ente_ctx, "phone_operator")
    token = csrf(phone.get("/console/intake").text)
    assert phone.get("/console/instances").status_code == 403
    assert phone.get(f"/console/instances/{inst['id']}").status_code == 403
    r = phone.post(f"/console/instances/{inst['id']}/transition", data={"csrf": token, "to": "in_charge"})
    assert r.status_code == 403
    assert (
        client.get(f"/api/v1/instances/{inst['id']}", headers=ente_ctx.headers("admin")).json()["status"]
        == "protocolled"
    )
    # every POST needs the session's CSRF token
    op = login(server, ente_ctx, "operator")
    assert op.post(f"/console/instances/{inst['id']}/transition", data={"to": "in_charge"}).status_code == 403
    forged = op.post(f"/console/instances/{inst['id']}/transition", data={"csrf": token, "to": "in_charge"})
    assert forged.status_code == 403 and "modulo" in forged.text  # another session's token
    assert op.post("/console/intake/contacts", data={"first_name": "A", "last_name": "B"}).status_code == 403
    # no session: back to the login page
    anon = httpx.Client(base_url=server.url, follow_redirects=False)
    for url in ("/console/intake", "/console/bookings", "/console/instances", f"/console/intake/{cid}"):
        assert anon.get(url).headers["location"] == "/console/login"


# --- bookings -------------------------------------------------------------------------------------------------------
def test_bookings_day_week_cancel_mark_reschedule(server, client: httpx.Client, ente_ctx, db) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from crm.bookings.models import Booking

    svc = _service(client, ente_ctx)
    free = _free(client, ente_ctx, svc)
    ada, bea, carlo = (_contact(client, ente_ctx, n) for n in ("Ada", "Bea<i>", "Carlo"))
    b1 = _book_api(client, ente_ctx, svc, ada, free[0])
    b2 = _book_api(client, ente_ctx, svc, bea, free[1])
    b3 = _book_api(client, ente_ctx, svc, carlo, free[2])
    day = free[0][:10]
    c = login(server, ente_ctx, "operator")
    view = c.get("/console/bookings", params={"servizio": svc["id"], "giorno": day})
    assert view.status_code == 200 and b1["code"] in view.text and b2["code"] in view.text
    assert "Ada" in view.text and "Bea&lt;i&gt;" in view.text
    assert "Bea<i>" not in view.text and "Confermata" in view.text and "<caption" in view.text
    assert "Presente" not in view.text  # not started yet: no attended / no-show buttons
    week = c.get("/console/bookings", params={"servizio": svc["id"], "giorno": day, "vista": "settimana"})
    assert week.status_code == 200 and b1["code"] in week.text and week.text.count("<h2") == 7
    check_page(view.text)
    check_page(week.text)
    token = csrf(view.text)
    back = f"/console/bookings?servizio={svc['id']}&giorno={day}"
    # cancel needs a reason
    r = c.post(f"/console/bookings/{b1['id']}/cancel", data={"csrf": token, "back": back, "reason": " "})
    assert r.status_code == 303 and "errore=motivo" in r.headers["location"]
    assert "Indichi il motivo" in c.get(r.headers["location"]).text
    assert c.post(f"/console/bookings/{b1['id']}/cancel", data={"back": back, "reason": "x"}).status_code == 403
    r = c.post(f"/console/bookings/{b1['id']}/cancel", data={"csrf": token, "back": back, "reason": "ufficio chiuso"})
    assert r.status_code == 303 and r.headers["location"].startswith("/console/bookings?")
    after = c.get(r.headers["location"]).text
    assert f"Prenotazione {b1['code']} annullata" in after and after.count(b1["code"]) == 1
    check_page(after)
    assert client.get(f"/api/v1/bookings/{b1['id']}", headers=ente_ctx.headers("admin")).json()["status"] == "cancelled"
    assert (
        b1["code"] in c.get("/console/bookings", params={"servizio": svc["id"], "giorno": day, "annullate": "1"}).text
    )
    again = c.post(f"/console/bookings/{b1['id']}/cancel", data={"csrf": token, "back": back, "reason": "x"})
    assert "errore=stato" in again.headers["location"]
    # an open redirect is not possible through "back"
    evil = c.post(f"/console/bookings/{b2['id']}/attended", data={"csrf": token, "back": "https://evil.example/x"})
    assert (
        evil.headers["location"].startswith("/console/bookings") and "errore=non_iniziato" in evil.headers["location"]
    )
    assert client.get(f"/api/v1/bookings/{b2['id']}", headers=ente_ctx.headers("admin")).json()["status"] == "confirmed"

    # once the appointment has started the desk marks attended / no-show
    now = datetime.now(ROME)

    async def started(s):  # type: ignore[no-untyped-def]
        for i, bid in enumerate((b2["id"], b3["id"])):
            start = now - timedelta(minutes=40 + 20 * i)
            await s.execute(
                update(Booking).where(Booking.id == bid).values(start=start, end=start + timedelta(minutes=20))
            )

    db.run(started)
    today = (now - timedelta(minutes=60)).date().isoformat()
    view = c.get("/console/bookings", params={"servizio": svc["id"], "giorno": today, "vista": "settimana"})
    assert b2["code"] in view.text and "Presente" in view.text and "Assente" in view.text
    check_page(view.text)
    bo = login(server, ente_ctx, "backoffice")  # the counter staff of the office may mark too
    bo_token = csrf(bo.get("/console/bookings").text)
    assert bo.post(f"/console/bookings/{b2['id']}/attended", data={"csrf": bo_token}).status_code == 303
    assert bo.post(f"/console/bookings/{b3['id']}/cancel", data={"csrf": bo_token, "reason": "x"}).status_code == 403
    r = c.post(f"/console/bookings/{b3['id']}/no-show", data={"csrf": token, "back": back})
    assert r.status_code == 303 and "esito=assente" in r.headers["location"]
    status = {
        b["id"]: b["status"]
        for b in client.get(
            "/api/v1/bookings", params={"service_id": svc["id"]}, headers=ente_ctx.headers("admin")
        ).json()["items"]
    }
    assert status[b2["id"]] == "attended" and status[b3["id"]] == "no_show"

    # reschedule to another free slot
    b4 = _book_api(client, ente_ctx, svc, ada, free[3])
    move = c.get(f"/console/bookings/{b4['id']}/reschedule", params={"back": back})
    assert move.status_code == 200 and b4["code"] in move.text
    check_page(move.text)
    choices = _slots(move.text)
    target = next(s for s in choices if s.split("|")[0] not in (free[3],))
    r = c.post(f"/console/bookings/{b4['id']}/reschedule", data={"csrf": token, "back": back, "slot": target})
    assert r.status_code == 303 and "esito=spostata" in r.headers["location"]
    mine = client.get("/api/v1/bookings", params={"contact_id": ada}, headers=ente_ctx.headers("admin")).json()
    moved = next(x for x in mine["items"] if x["rescheduled_from_id"] == b4["id"])
    assert moved["status"] == "confirmed" and moved["start"] == target.split("|")[0]
    assert moved["code"] in c.get(r.headers["location"]).text
    nothing = c.post(f"/console/bookings/{moved['id']}/reschedule", data={"csrf": token, "back": back, "slot": ""})
    assert nothing.status_code == 422 and "Scelga il nuovo orario" in nothing.text
    check_page(nothing.text)


# --- istanze back-office --------------------------------------------------------------------------------------------
def test_instances_backoffice_queue_decisions_and_errors(server, client: httpx.Client, ente_ctx, db) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from crm.instances.models import Instance

    t = client.post(
        "/api/v1/instance-types",
        json={**GENERIC, "office_id": ente_ctx.offices["ANAG"], "deadline_days": 30},
        headers=ente_ctx.headers("admin"),
    )
    assert t.status_code == 201
    cid = _contact(client, ente_ctx, "Giulia")

    def submit(subject: str) -> dict[str, Any]:
        r = client.post(
            "/api/v1/instances",
            headers=ente_ctx.headers("service"),
            json={
                "type": "istanza-generica",
                "contact_id": cid,
                "data": {"subject": subject, "description": "<script>alert(1)</script>"},
            },
        )
        assert r.status_code == 201, r.text
        return r.json()

    first, late, near = submit("Accesso agli atti"), submit("In ritardo"), submit("Quasi scaduta")
    now = datetime.now(ROME)

    async def clocks(s):  # type: ignore[no-untyped-def]
        await s.execute(update(Instance).where(Instance.id == late["id"]).values(deadline_at=now - timedelta(days=2)))
        await s.execute(update(Instance).where(Instance.id == near["id"]).values(deadline_at=now + timedelta(days=3)))

    db.run(clocks)
    pdf = b"%PDF-1.4\n% allegato\n" + b"0" * 200
    att = client.post(
        f"/api/v1/instances/{first['id']}/attachments",
        headers=ente_ctx.headers("service"),
        files={"file": ("planimetria.pdf", pdf, "application/pdf")},
    ).json()
    bo = login(server, ente_ctx, "backoffice")
    queue = bo.get("/console/instances")
    assert queue.status_code == 200 and all(x["code"] in queue.text for x in (first, late, near))
    assert "Scaduto da 2 giorni" in queue.text and "In scadenza" in queue.text and "table-danger" in queue.text
    assert queue.text.index(late["code"]) < queue.text.index(near["code"]) < queue.text.index(first["code"])
    check_page(queue.text)
    overdue = bo.get("/console/instances", params={"scadenza": "scaduta"}).text
    assert late["code"] in overdue and first["code"] not in overdue
    other_office = bo.get("/console/instances", params={"ufficio": ente_ctx.offices["URP"]}).text
    assert first["code"] not in other_office and "Nessuna istanza" in other_office
    assert first["code"] in bo.get("/console/instances", params={"ufficio": ente_ctx.offices["ANAG"]}).text

    page = bo.get(f"/console/instances/{first['id']}")
    assert page.status_code == 200 and first["protocol_number"] in page.text and "Accesso agli atti" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
    link = f"/api/v1/instances/{first['id']}/attachments/{att['id']}"
    assert link in page.text and bo.get(link).content == pdf  # the session opens the download
    check_page(page.text)
    token = csrf(page.text)
    url = f"/console/instances/{first['id']}/transition"
    r = bo.post(url, data={"csrf": token, "to": "in_charge"})
    assert r.status_code == 303 and r.headers["location"] == f"/console/instances/{first['id']}?esito=in_charge"
    assert "presa in carico" in bo.get(r.headers["location"]).text
    api = f"/api/v1/instances/{first['id']}"
    assert client.get(api, headers=ente_ctx.headers("admin")).json()["status"] == "in_charge"
    # integration needs a note; the clock then stops and the queue says so
    nonote = bo.post(url, data={"csrf": token, "to": "integration_requested", "note": "  "})
    assert (
        nonote.status_code == 422
        and "obbligatoria" in nonote.text
        and 'id="note-integration_requested-err"' in nonote.text
    )
    r = bo.post(url, data={"csrf": token, "to": "integration_requested", "note": "Manca la copia del documento."})
    assert r.status_code == 303
    assert client.get(api, headers=ente_ctx.headers("admin")).json()["clock_paused"] is True
    assert "Termine sospeso" in bo.get("/console/instances").text
    # an illegal step is an Italian message, not a 500
    illegal = bo.post(url, data={"csrf": token, "to": "in_charge"})
    assert illegal.status_code == 409 and "Operazione non consentita" in illegal.text
    assert "text/html" in illegal.headers["content-type"]
    check_page(illegal.text)
    check_page(nonote.text)
    unknown = bo.post(url, data={"csrf": token, "to": "withdrawn"})
    assert unknown.status_code == 422 and "Operazione sconosciuta" in unknown.text
    assert bo.post(url, data={"csrf": token, "to": "integrated"}).status_code == 303
    noreason = bo.post(url, data={"csrf": token, "to": "rejected"})
    assert noreason.status_code == 422 and "obbligatoria" in noreason.text
    r = bo.post(url, data={"csrf": token, "to": "rejected", "note": "Documentazione <incompleta>"})
    assert r.status_code == 303
    final = client.get(api, headers=ente_ctx.headers("admin")).json()
    assert final["status"] == "rejected"
    page = bo.get(f"/console/instances/{first['id']}").text
    assert "Documentazione &lt;incompleta&gt;" in page and "Nessuna decisione possibile" in page
    check_page(page)
    assert [e["to"] for e in client.get(api, headers=ente_ctx.headers("admin")).json()["events"]][-4:] == [
        "in_charge",
        "integration_requested",
        "integrated",
        "rejected",
    ]
    # an operator of the URP may decide as well; other entes see nothing
    op = login(server, ente_ctx, "operator")
    r = op.post(
        f"/console/instances/{near['id']}/transition",
        data={"csrf": csrf(op.get("/console/instances").text), "to": "in_charge"},
    )
    assert r.status_code == 303
    assert op.get("/console/instances/999999999").status_code == 404

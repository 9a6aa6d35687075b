"""Console requests screen: filters, list and board, SLA countdown, the request's page with history, assignment,
status changes with notes and internal notes, role checks and CSRF; results checked through the REST API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.console.test_console import csrf, login
from tests.console.test_console_screens import check_page


def _contact(
    client: httpx.Client,
    ente_ctx,
    first: str = "Paolo",  # type: ignore[no-untyped-def]
    last: str = "Conti",
) -> int:
    r = client.post(
        "/api/v1/contacts", json={"first_name": first, "last_name": last}, headers=ente_ctx.headers("operator")
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _ticket(
    client: httpx.Client,
    ente_ctx,
    contact_id: int,  # type: ignore[no-untyped-def]
    **extra: Any,
) -> dict[str, Any]:
    body = {"contact_id": contact_id, "kind": "report", "subject": "Lampione spento", **extra}
    r = client.post("/api/v1/requests", json=body, headers=ente_ctx.headers("operator"))
    assert r.status_code == 201, r.text
    return r.json()


def _api(client: httpx.Client, ente_ctx, ticket_id: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return client.get(f"/api/v1/requests/{ticket_id}", headers=ente_ctx.headers("operator")).json()


def test_list_filters_board_and_sla(server, client: httpx.Client, ente_ctx, db) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from crm.db import utcnow
    from crm.tickets.models import Ticket

    cid = _contact(client, ente_ctx, "Ada", "<i>Rossi</i>")
    mine = _ticket(client, ente_ctx, cid, subject="Buca in via Roma", topic="segnalazioni", priority="alta")
    info = _ticket(client, ente_ctx, cid, kind="information", subject="Orari <script>x</script>", priority="bassa")
    late = _ticket(client, ente_ctx, cid, kind="complaint", subject="Rifiuti non ritirati")
    assert mine["assignee_id"] == ente_ctx.operator_ids["operator"] and info["assignee_id"] is None

    async def age(s):  # type: ignore[no-untyped-def]
        await s.execute(
            update(Ticket).where(Ticket.id == late["id"]).values(due_at=utcnow() - timedelta(hours=2, minutes=5))
        )

    db.run(age)
    h = ente_ctx.headers("operator")
    client.post(f"/api/v1/requests/{info['id']}/transition", json={"to": "in_charge"}, headers=h)

    c = login(server, ente_ctx)
    page = c.get("/console/requests")
    assert page.status_code == 200
    check_page(page.text)
    text = page.text
    for t in (mine, info, late):
        assert t["code"] in text
    assert "Orari &lt;script&gt;x&lt;/script&gt;" in text and "<script>x</script>" not in text
    assert "&lt;i&gt;Rossi&lt;/i&gt;" in text and "<i>Rossi</i>" not in text
    assert "scaduta da 2 h" in text and "SLA scaduta" in text  # a text label, not only the row colour
    assert "mancano " in text and "table-danger" in text

    def codes(**params: str) -> set[str]:
        r = c.get("/console/requests", params=params)
        assert r.status_code == 200
        return {t["code"] for t in (mine, info, late) if t["code"] in r.text}

    assert codes(priorita="alta") == {mine["code"]}
    assert codes(tipo="information") == {info["code"]}
    assert codes(argomento="segnalazioni") == {mine["code"]}
    assert codes(assegnata="me") == {mine["code"], info["code"]}  # info was taken in charge by the operator
    assert codes(assegnata="nessuno") == {late["code"]}
    assert codes(scadute="1") == {late["code"]}
    assert codes(q="buca") == {mine["code"]}
    assert codes(q=late["code"]) == {late["code"]}
    assert codes(stato="in_charge") == {info["code"]}

    board = c.get("/console/requests", params={"vista": "bacheca"})
    assert board.status_code == 200
    check_page(board.text)
    b = board.text
    new_col, charge_col, waiting_col = (
        b.index('id="col-new"'),
        b.index('id="col-in_charge"'),
        b.index('id="col-waiting_citizen"'),
    )
    assert new_col < b.index(mine["code"]) < charge_col and new_col < b.index(late["code"]) < charge_col
    assert charge_col < b.index(info["code"]) < waiting_col
    assert 'id="col-closed"' not in b  # open requests only by default
    assert 'id="col-closed"' in c.get("/console/requests", params={"vista": "bacheca", "stato": "tutte"}).text

    # the phone desk sees the list but has no action forms; the back-office, which receives requests by automatic
    # assignment, handles them (one policy, crm.tickets.policies.HANDLE, for the API and the console)
    viewer = login(server, ente_ctx, "phone_operator")
    assert viewer.get("/console/requests").status_code == 200
    assert "Cambia stato" not in viewer.get(f"/console/requests/{late['id']}").text
    back = login(server, ente_ctx, "backoffice")
    assert "Cambia stato" in back.get(f"/console/requests/{late['id']}").text


def test_detail_actions_history_and_errors(
    server,
    client: httpx.Client,
    ente_ctx,  # type: ignore[no-untyped-def]
    other_ente,
) -> None:
    cid = _contact(client, ente_ctx, "Bruno", "Verdi")
    t = _ticket(
        client, ente_ctx, cid, subject="Segnalazione <b>urgente</b>", description="Il lampione <em>lampeggia</em>"
    )
    url = f"/console/requests/{t['id']}"
    c = login(server, ente_ctx)
    page = c.get(url)
    assert page.status_code == 200
    check_page(page.text)
    assert "Bruno Verdi" in page.text and "Richiesta creata" in page.text
    assert "&lt;em&gt;lampeggia&lt;/em&gt;" in page.text and "<em>" not in page.text
    assert "&lt;b&gt;urgente&lt;/b&gt;" in page.text and "<b>urgente</b>" not in page.text
    token = csrf(page.text)

    # without the CSRF token nothing happens
    assert c.post(url + "/note", data={"note": "x"}).status_code == 403
    assert c.post(url + "/note", data={"csrf": "y" * 40, "note": "x"}).status_code == 403

    # assign to operator2, take in charge, status change with a note, an internal note, a priority change
    op2 = ente_ctx.operator_ids["operator2"]
    r = c.post(url + "/assign", data={"csrf": token, "operator_id": str(op2)})
    assert r.status_code == 303 and r.headers["location"] == url + "?esito=assign"
    assert _api(client, ente_ctx, t["id"])["assignee_id"] == op2
    assert c.post(url + "/take", data={"csrf": token}).status_code == 303
    api = _api(client, ente_ctx, t["id"])
    assert api["status"] == "in_charge" and api["assignee_id"] == ente_ctx.operator_ids["operator"]
    assert (
        c.post(
            url + "/status", data={"csrf": token, "to": "waiting_citizen", "note": "chiesto il numero civico"}
        ).status_code
        == 303
    )
    assert c.post(url + "/note", data={"csrf": token, "note": "richiamare <u>domani</u>"}).status_code == 303
    assert c.post(url + "/priority", data={"csrf": token, "priority": "alta", "note": "pericolo"}).status_code == 303
    api = _api(client, ente_ctx, t["id"])
    assert api["status"] == "waiting_citizen" and api["priority"] == "alta"
    events = [(e["action"], e["to_value"], e["note"]) for e in api["events"]]
    assert ("status", "waiting_citizen", "chiesto il numero civico") in events
    assert ("note", None, "richiamare <u>domani</u>") in events and ("priority", "alta", "pericolo") in events

    page = c.get(url + "?esito=note")
    check_page(page.text)
    assert "Nota interna aggiunta." in page.text
    assert "chiesto il numero civico" in page.text and "Attesa cittadino" in page.text
    assert "richiamare &lt;u&gt;domani&lt;/u&gt;" in page.text and "<u>domani</u>" not in page.text
    assert ente_ctx.usernames["operator"] in page.text

    # an illegal transition (waiting -> closed) and a rejection without a reason: Italian error pages, no change
    bad = c.post(url + "/status", data={"csrf": token, "to": "closed", "note": ""})
    assert bad.status_code == 409 and "Operazione non consentita" in bad.text and 'lang="it"' in bad.text
    check_page(bad.text)
    no_reason = c.post(url + "/status", data={"csrf": token, "to": "rejected", "note": " "})
    assert no_reason.status_code == 422 and 'lang="it"' in no_reason.text
    assert c.post(url + "/status", data={"csrf": token, "to": "volare"}).status_code == 422
    assert _api(client, ente_ctx, t["id"])["status"] == "waiting_citizen"

    # the phone desk views but cannot act; another ente does not see the request
    phone = login(server, ente_ctx, "phone_operator")
    ptoken = csrf(phone.get(url).text)
    denied = phone.post(url + "/status", data={"csrf": ptoken, "to": "in_charge", "note": ""})
    assert denied.status_code == 403 and "Operazione non consentita" in denied.text
    assert _api(client, ente_ctx, t["id"])["status"] == "waiting_citizen"
    other = login(server, other_ente)
    assert other.get(url).status_code == 404
    assert t["code"] not in other.get("/console/requests").text

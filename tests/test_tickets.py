"""Requests: SLA due time, auto-assignment to the least-loaded competent operator, status machine, history."""

from __future__ import annotations

from datetime import datetime

import httpx

from crm.core.workhours import add_working_hours, make_office_hours


def _contact(client: httpx.Client, ente_ctx) -> int:  # type: ignore[no-untyped-def]
    r = client.post(
        "/api/v1/contacts", json={"first_name": "Paolo", "last_name": "Conti"}, headers=ente_ctx.headers("operator")
    )
    return r.json()["id"]


def _ticket(client: httpx.Client, ente_ctx, who: str = "operator", **extra) -> dict:  # type: ignore[no-untyped-def]
    body = {"contact_id": _contact(client, ente_ctx), "kind": "report", "subject": "Lampione spento", **extra}
    r = client.post("/api/v1/requests", json=body, headers=ente_ctx.headers(who))
    assert r.status_code == 201, r.text
    return r.json()


def test_sla_due_time_follows_office_hours(client: httpx.Client, ente_ctx) -> None:
    oh = make_office_hours("mon-fri 08:00-12:30,14:00-17:00", "Europe/Rome", "06-29")
    for prio, hours in (("alta", 8), ("media", 12), ("bassa", 16)):
        t = _ticket(client, ente_ctx, priority=prio)
        created = datetime.fromisoformat(t["created_at"])
        assert datetime.fromisoformat(t["due_at"]) == add_working_hours(created, hours, oh)
        assert t["sla_breached"] is False


def test_auto_assign_least_loaded_competent_operator(client: httpx.Client, ente_ctx) -> None:
    # topic "anagrafe": operator2 (operator) and backoffice are competent; both start with 0 open requests
    first = _ticket(client, ente_ctx, topic="anagrafe")
    second = _ticket(client, ente_ctx, topic="anagrafe")
    competent = {ente_ctx.operator_ids["operator2"], ente_ctx.operator_ids["backoffice"]}
    assert {first["assignee_id"], second["assignee_id"]} == competent
    third = _ticket(client, ente_ctx, topic="segnalazioni")
    assert third["assignee_id"] == ente_ctx.operator_ids["operator"]
    no_topic = _ticket(client, ente_ctx)
    assert no_topic["assignee_id"] is None


def test_lifecycle_with_history_and_illegal_transitions(client: httpx.Client, ente_ctx) -> None:
    h = ente_ctx.headers("operator")
    t = _ticket(client, ente_ctx, topic="urp")
    url = f"/api/v1/requests/{t['id']}"
    assert client.post(url + "/transition", json={"to": "closed"}, headers=h).status_code == 409
    r = client.post(url + "/transition", json={"to": "in_charge", "note": "presa in carico"}, headers=h)
    assert r.status_code == 200 and r.json()["taken_at"]
    assert (
        client.post(url + "/transition", json={"to": "waiting_citizen"}, headers=h).json()["status"]
        == "waiting_citizen"
    )
    assert client.post(url + "/transition", json={"to": "in_charge"}, headers=h).status_code == 200
    assert client.post(url + "/notes", json={"note": "chiamato il cittadino"}, headers=h).status_code == 200
    assert client.post(url + "/transition", json={"to": "resolved"}, headers=h).status_code == 200
    assert client.post(url + "/transition", json={"to": "closed"}, headers=h).status_code == 200
    assert client.post(url + "/transition", json={"to": "in_charge"}, headers=h).status_code == 409
    assert client.post(url + "/transition", json={"to": "flying"}, headers=h).status_code == 422
    full = client.get(url, headers=h).json()
    steps = [(e["action"], e["to_value"]) for e in full["events"]]
    assert steps[0] == ("created", "new")
    assert [s for a, s in steps if a == "status"] == ["in_charge", "waiting_citizen", "in_charge", "resolved", "closed"]
    assert any(e["action"] == "note" and e["note"] == "chiamato il cittadino" for e in full["events"])
    assert all(e["actor_name"] for e in full["events"])


def test_reject_needs_a_reason(client: httpx.Client, ente_ctx) -> None:
    t = _ticket(client, ente_ctx)
    url = f"/api/v1/requests/{t['id']}/transition"
    h = ente_ctx.headers("operator")
    assert client.post(url, json={"to": "rejected"}, headers=h).status_code == 422
    assert client.post(url, json={"to": "rejected", "note": "non di competenza"}, headers=h).status_code == 200


def test_phone_operator_logs_on_behalf_and_bot_logs_as_bot(client: httpx.Client, ente_ctx) -> None:
    t = _ticket(client, ente_ctx, who="phone_operator", channel="phone", on_behalf=True)
    assert t["on_behalf"] is True and t["created_by_kind"] == "operator"
    assert t["created_by_operator_id"] == ente_ctx.operator_ids["phone_operator"]
    full = client.get(f"/api/v1/requests/{t['id']}", headers=ente_ctx.headers("operator")).json()
    assert ente_ctx.usernames["phone_operator"] in full["events"][0]["note"]
    bot = _ticket(client, ente_ctx, who="service", channel="telegram")
    assert bot["created_by_kind"] == "bot" and bot["created_by_operator_id"] is None
    r = client.post(
        "/api/v1/requests",
        json={"contact_id": bot["contact_id"], "kind": "other", "subject": "x", "on_behalf": True},
        headers=ente_ctx.headers("service"),
    )
    assert r.status_code == 422


def test_priority_change_recomputes_due_and_filters(client: httpx.Client, ente_ctx) -> None:
    h = ente_ctx.headers("operator")
    t = _ticket(client, ente_ctx, priority="bassa")
    r = client.post(f"/api/v1/requests/{t['id']}/priority", json={"priority": "alta"}, headers=h)
    assert r.status_code == 200
    assert datetime.fromisoformat(r.json()["due_at"]) < datetime.fromisoformat(t["due_at"])
    listed = client.get(
        "/api/v1/requests", params={"priority": "alta", "contact_id": t["contact_id"]}, headers=h
    ).json()
    assert [i["id"] for i in listed["items"]] == [t["id"]]
    assert client.get("/api/v1/requests", params={"sort": "-due_at"}, headers=h).status_code == 200


def test_sla_report_counts_met_and_breached(client: httpx.Client, ente_ctx, db) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from crm.db import utcnow
    from crm.tickets.models import Ticket

    h = ente_ctx.headers("operator")
    met = _ticket(client, ente_ctx, priority="alta")
    client.post(f"/api/v1/requests/{met['id']}/transition", json={"to": "in_charge"}, headers=h)
    late = _ticket(client, ente_ctx, priority="alta")

    async def age(s):  # type: ignore[no-untyped-def]
        await s.execute(update(Ticket).where(Ticket.id == late["id"]).values(due_at=utcnow() - timedelta(hours=1)))

    db.run(age)
    _ticket(client, ente_ctx, priority="media")
    rep = client.get("/api/v1/requests/sla", headers=h).json()
    alta = rep["by_priority"]["alta"]
    assert (alta["met"], alta["breached"], alta["compliance"]) == (1, 1, 0.5)
    assert alta["meets_target"] is False and rep["target"] == 0.9
    assert rep["by_priority"]["media"]["pending"] == 1
    breached = client.get("/api/v1/requests", params={"breached": "1"}, headers=h).json()
    assert [i["id"] for i in breached["items"]] == [late["id"]] and breached["items"][0]["sla_breached"]

"""Bad input gets a clear 4xx, never a 500: ids and offsets beyond the 32-bit range, NUL and control characters
and lone surrogates in any text, references that do not exist or belong to another ente, the same identity twice,
dates no calendar has. Each case is one that gave a 500 (or a wrong link) before; the fuzzer looks for the rest."""

from __future__ import annotations

import json

import httpx

BIG = 3_000_000_000


def test_ids_and_offsets_beyond_range(client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    h = ente_ctx.headers("operator")
    for path in ("/api/v1/contacts/3000000000", f"/api/v1/requests/{2**63}", "/api/v1/bookings/99999999999999999999"):
        r = client.get(path, headers=h)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (path, r.text)
    for params in ({"offset": "99999999999999999999"}, {"limit": str(BIG)}, {"contact_id": str(BIG)}, {"offset": "-1"}):
        for path in ("/api/v1/contacts", "/api/v1/bookings", "/api/v1/requests", "/api/v1/instances"):
            r = client.get(path, params=params, headers=h)
            assert r.status_code == 422, (path, params, r.text)
            assert set(r.json()["error"]["fields"]) == set(params)
    # integer parameters whose names do not end in _id, documented since the query models
    for path, name in (
        ("/api/v1/conversations", "assignee"),
        ("/api/v1/services/1/availability", "location"),
        ("/api/v1/services/1/availability", "resource"),
        ("/api/v1/services/1/availability", "duration"),
    ):
        r = client.get(path, params={name: str(BIG), "from": "2030-01-01", "to": "2030-01-02"}, headers=h)
        assert r.status_code == 422 and r.json()["error"]["fields"] == {name: "out of range"}, (path, name, r.text)
    # digits that are not decimals («¹», found by the fuzzer on PostgreSQL): a 4xx, never int()'s ValueError as a 500
    for value in ("¹", "²³", "-¹"):
        r = client.get("/api/v1/contacts", params={"contact_id": value, "offset": value}, headers=h)
        assert r.status_code == 422, (value, r.text)
    r = client.post("/api/v1/requests", headers=h, json={"contact_id": BIG, "kind": "other", "subject": "x"})
    assert r.status_code == 422 and r.json()["error"]["fields"] == {"contact_id": "id out of range"}
    # an id whose name does not say so (found by the fuzzer on PostgreSQL: int4 overflow, a 500)
    r = client.post(
        "/api/v1/instances",
        headers=ente_ctx.headers("admin"),
        json={"type": "x", "contact_id": 1, "on_behalf_of": BIG},
    )
    assert r.status_code == 422 and "on_behalf_of" in r.json()["error"]["fields"], r.text
    r = client.post("/api/v1/contacts", headers=h, json={"first_name": "Ada", "notes": "x", "age": 10**30})
    assert r.status_code == 422


def test_control_characters_and_surrogates_are_refused_with_the_field(client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    h = ente_ctx.headers("operator")
    for bad in ("nul\u0000byte", "bell\u0007", "half \ud800 pair"):
        raw = f'{{"first_name": {json.dumps(bad)}}}'  # JSON-escaped (\\u0000, \\ud800), as a client sends it
        r = client.post("/api/v1/contacts", content=raw, headers={**h, "Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["error"]["fields"] == {"first_name": "contains control characters"}
    # tabs and new lines are text
    ok = client.post("/api/v1/contacts", json={"first_name": "Ada", "notes": "riga 1\n\triga 2"}, headers=h)
    assert ok.status_code == 201 and ok.json()["notes"] == "riga 1\n\triga 2"
    r = client.get("/api/v1/contacts", params={"q": "a\x00b"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["fields"] == {"q": "control characters"}


def test_references_must_exist_in_the_callers_ente(client: httpx.Client, ente_ctx, other_ente, db) -> None:  # type: ignore[no-untyped-def]
    h = ente_ctx.headers("operator")
    mine = client.post("/api/v1/contacts", json={"first_name": "Ada"}, headers=h).json()["id"]
    theirs = client.post("/api/v1/contacts", json={"first_name": "Bea"}, headers=other_ente.headers("operator")).json()[
        "id"
    ]

    async def conversation(s, ente_id, contact_id):  # type: ignore[no-untyped-def]
        from crm.conversations import service as conversations

        conv, _, _ = await conversations.record_inbound(
            s, ente_id=ente_id, contact_id=contact_id, channel="web", text="Buongiorno", channel_message_id=None
        )
        return conv.id

    own_conv = db.run(lambda s: conversation(s, ente_ctx.ente_id, mine))
    foreign_conv = db.run(lambda s: conversation(s, other_ente.ente_id, theirs))
    body = {"contact_id": mine, "kind": "information", "subject": "Richiesta"}
    for conv in (foreign_conv, 2_000_000_000):
        r = client.post("/api/v1/requests", json={**body, "conversation_id": conv}, headers=h)
        assert r.status_code == 422 and r.json()["error"]["fields"] == {"conversation_id": "unknown"}, r.text
        r = client.post(
            "/api/v1/kb/feedback", json={"query": "orari", "helpful": True, "conversation_id": conv}, headers=h
        )
        assert r.status_code == 422 and r.json()["error"]["fields"] == {"conversation_id": "unknown"}, r.text
    # another contact's conversation is not this request's
    other_mine = client.post("/api/v1/contacts", json={"first_name": "Cia"}, headers=h).json()["id"]
    r = client.post("/api/v1/requests", json={**body, "contact_id": other_mine, "conversation_id": own_conv}, headers=h)
    assert r.status_code == 422
    assert client.post("/api/v1/requests", json={**body, "conversation_id": own_conv}, headers=h).status_code == 201
    admin = ente_ctx.headers("admin")
    art = client.post(
        "/api/v1/kb/articles", json={"slug": "orari", "title": "Orari", "body": "Dalle 9 alle 13."}, headers=admin
    ).json()
    for office in (other_ente.offices["URP"], 2_000_000_000):
        r = client.patch(f"/api/v1/kb/articles/{art['id']}", json={"office_id": office}, headers=admin)
        assert r.status_code == 422 and r.json()["error"]["fields"] == {"office_id": "unknown"}
        r = client.post(
            "/api/v1/services",
            headers=admin,
            json={"slug": f"s-{office}", "code_prefix": "SV", "name": "Servizio", "office_id": office},
        )
        assert r.status_code == 422 and r.json()["error"]["fields"] == {"office_id": "unknown"}
    ok = client.patch(f"/api/v1/kb/articles/{art['id']}", json={"office_id": ente_ctx.offices["URP"]}, headers=admin)
    assert ok.status_code == 200


def test_same_identity_twice_and_far_dates(client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    h = ente_ctx.headers("operator")
    twice = [{"channel": "sms", "external_id": "+393471112223"}] * 3
    r = client.post("/api/v1/contacts", json={"first_name": "Ada", "identities": twice}, headers=h)
    assert r.status_code == 201 and len(r.json()["identities"]) == 1
    from tests.bookings.test_bookings import setup_service

    svc = setup_service(client, ente_ctx)
    for day in ("9999-12-31", "0001-01-01"):
        r = client.get(f"/api/v1/services/{svc['id']}/availability", headers=h, params={"from": day, "to": day})
        assert r.status_code == 200 and r.json()["items"] == [], r.text


def test_an_admin_cannot_demote_or_deactivate_themselves_over_the_api(client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    me = ente_ctx.operator_ids["admin"]
    h = ente_ctx.headers("admin")
    for body, field in (({"role": "operator"}, "role"), ({"active": False}, "active")):
        r = client.patch(f"/api/v1/operators/{me}", json=body, headers=h)
        assert r.status_code == 409 and r.json()["error"]["fields"] == {field: "yourself"}
    assert client.get("/api/v1/auth/me", headers=h).json()["role"] == "admin"


def test_a_search_channel_longer_than_its_column(client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    """An unanswered search by the service records a gap with its channel (20 characters): a longer one was a
    database error on PostgreSQL."""
    r = client.get(
        "/api/v1/kb/search",
        params={"q": "tassa sui cani di razza", "channel": "x" * 21},
        headers=ente_ctx.headers("service"),
    )
    assert r.status_code == 422 and r.json()["error"]["fields"] == {"channel": "too long"}, r.text

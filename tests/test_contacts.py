"""Contacts: validation, normalisation, search, merge, audit."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from tests.conftest import VALID_CF


def _create(client: httpx.Client, ente_ctx, **body) -> dict:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/contacts", json=body, headers=ente_ctx.headers("operator"))
    assert r.status_code == 201, r.text
    return r.json()


def test_create_normalises_phone_email_and_fiscal_code(client: httpx.Client, ente_ctx) -> None:
    c = _create(
        client,
        ente_ctx,
        first_name="Maria",
        last_name="Rossi",
        fiscal_code=VALID_CF.lower(),
        phones=["347 123 4567", "+39 347 1234567"],
        emails=["Maria.Rossi@Example.IT"],
        preferred_channel="sms",
    )
    assert c["id"] > 0
    assert c["fiscal_code"] == VALID_CF
    assert c["phones"] == ["+393471234567"]
    assert c["emails"] == ["maria.rossi@example.it"]
    got = client.get(f"/api/v1/contacts/{c['id']}", headers=ente_ctx.headers("operator")).json()
    assert got == c


def test_invalid_fields_are_named(client: httpx.Client, ente_ctx) -> None:
    h = ente_ctx.headers("operator")
    for body, field in (
        ({"fiscal_code": "RSSMRA80A01H501X"}, "fiscal_code"),  # wrong check character
        ({"phones": ["123"]}, "phones"),
        ({"emails": ["not-an-email"]}, "emails.0"),
        ({"preferred_channel": "fax"}, "preferred_channel"),
    ):
        r = client.post("/api/v1/contacts", json=body, headers=h)
        assert r.status_code == 422, body
        assert any(k.startswith(field) for k in r.json()["error"]["fields"]), r.json()


def test_duplicate_fiscal_code_conflicts(client: httpx.Client, ente_ctx) -> None:
    _create(client, ente_ctx, first_name="A", fiscal_code=VALID_CF)
    r = client.post(
        "/api/v1/contacts", json={"first_name": "B", "fiscal_code": VALID_CF}, headers=ente_ctx.headers("operator")
    )
    assert r.status_code == 409


def test_search_by_name_fiscal_code_phone_email(client: httpx.Client, ente_ctx) -> None:
    c = _create(
        client,
        ente_ctx,
        first_name="Giuseppe",
        last_name="Verdi",
        fiscal_code=VALID_CF,
        phones=["+39 338 9876543"],
        emails=["gverdi@example.it"],
    )
    _create(client, ente_ctx, first_name="Giuseppina", last_name="Neri")
    h = ente_ctx.headers("operator")
    for q in ("verdi", "Giuseppe Verdi", VALID_CF, VALID_CF[:8], "338 9876543", "3389876543", "gverdi@example.it"):
        res = client.get("/api/v1/contacts", params={"q": q}, headers=h).json()
        assert [i["id"] for i in res["items"]] == [c["id"]], q
    both = client.get("/api/v1/contacts", params={"q": "giusep", "sort": "first_name"}, headers=h).json()
    assert [i["first_name"] for i in both["items"]] == ["Giuseppe", "Giuseppina"]
    assert both["total"] == 2
    page = client.get(
        "/api/v1/contacts", params={"q": "giusep", "limit": 1, "offset": 1, "sort": "first_name"}, headers=h
    ).json()
    assert [i["first_name"] for i in page["items"]] == ["Giuseppina"] and page["total"] == 2


def test_patch_and_audit_trail(client: httpx.Client, ente_ctx) -> None:
    c = _create(client, ente_ctx, first_name="Anna")
    h = ente_ctx.headers("operator")
    r = client.patch(
        f"/api/v1/contacts/{c['id']}", json={"last_name": "Bianchi", "consent_notifications": False}, headers=h
    )
    assert r.status_code == 200 and r.json()["last_name"] == "Bianchi" and r.json()["consent_notifications"] is False
    client.get(f"/api/v1/contacts/{c['id']}", headers=h)
    log = client.get(
        "/api/v1/audit", params={"entity": "contact", "entity_id": c["id"]}, headers=ente_ctx.headers("admin")
    ).json()
    actions = [(e["action"], e["actor_name"]) for e in log["items"]]
    op = ente_ctx.usernames["operator"]
    assert ("create", op) in actions and ("update", op) in actions and ("read", op) in actions
    upd = next(e for e in log["items"] if e["action"] == "update")
    assert sorted(upd["details"]["fields"]) == ["consent_notifications", "last_name"]


def test_merge_keeps_all_history(client: httpx.Client, ente_ctx, db) -> None:
    from crm.conversations.models import Conversation

    h = ente_ctx.headers("operator")
    keep = _create(client, ente_ctx, first_name="Luca", last_name="Ferrari", phones=["+393494445566"])
    dup = _create(
        client,
        ente_ctx,
        first_name="",
        last_name="",
        fiscal_code=VALID_CF,
        emails=["luca@example.it"],
        identities=[{"channel": "telegram", "external_id": "777"}],
    )
    t = client.post(
        "/api/v1/requests", json={"contact_id": dup["id"], "kind": "information", "subject": "Orari"}, headers=h
    )
    assert t.status_code == 201

    async def open_conv(s):  # type: ignore[no-untyped-def]
        from crm.conversations import service

        conv, _, _ = await service.record_inbound(
            s,
            ente_id=ente_ctx.ente_id,
            contact_id=dup["id"],
            channel="telegram",
            text="ciao",
            channel_message_id=f"u-{dup['id']}",
        )
        return conv.id

    conv_id = db.run(open_conv)
    r = client.post(f"/api/v1/contacts/{keep['id']}/merge", json={"source_id": dup["id"]}, headers=h)
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["fiscal_code"] == VALID_CF
    assert merged["emails"] == ["luca@example.it"] and merged["phones"] == ["+393494445566"]
    assert {"channel": "telegram", "external_id": "777"} in merged["identities"]
    tickets = client.get("/api/v1/requests", params={"contact_id": keep["id"]}, headers=h).json()
    assert tickets["total"] == 1

    async def conv_owner(s):  # type: ignore[no-untyped-def]
        return await s.scalar(select(Conversation.contact_id).where(Conversation.id == conv_id))

    assert db.run(conv_owner) == keep["id"]
    src = client.get(f"/api/v1/contacts/{dup['id']}", headers=h).json()
    assert src["merged_into_id"] == keep["id"]
    assert client.get("/api/v1/contacts", params={"q": VALID_CF}, headers=h).json()["total"] == 1
    again = client.post(f"/api/v1/contacts/{keep['id']}/merge", json={"source_id": dup["id"]}, headers=h)
    assert again.status_code == 409
    assert (
        client.post(f"/api/v1/contacts/{keep['id']}/merge", json={"source_id": keep["id"]}, headers=h).status_code
        == 422
    )


def test_gdpr_export_and_erasure(client: httpx.Client, ente_ctx, db) -> None:
    h = ente_ctx.headers("operator")
    c = _create(
        client,
        ente_ctx,
        first_name="Gina",
        last_name="Privata",
        fiscal_code=VALID_CF,
        phones=["+39 347 0001112"],
        emails=["gina@example.it"],
    )
    t = client.post(
        "/api/v1/requests",
        json={
            "contact_id": c["id"],
            "kind": "complaint",
            "subject": "Rumore",
            "description": "Il mio vicino Mario fa rumore",
        },
        headers=h,
    ).json()
    from crm.conversations import service

    async def talk(s):  # type: ignore[no-untyped-def]
        await service.record_inbound(
            s,
            ente_id=ente_ctx.ente_id,
            contact_id=c["id"],
            channel="sms",
            text="sono Gina, abito in via Verdi 3",
            channel_message_id=f"g-{c['id']}",
        )

    db.run(talk)
    data = client.get(f"/api/v1/contacts/{c['id']}/export", headers=h).json()
    assert data["contact"]["fiscal_code"] == VALID_CF
    assert data["tickets"][0]["description"] == "Il mio vicino Mario fa rumore"
    assert data["messages"][0]["text"] == "sono Gina, abito in via Verdi 3"
    assert client.post(f"/api/v1/contacts/{c['id']}/erase", headers=h).status_code == 403  # admins only
    erased = client.post(f"/api/v1/contacts/{c['id']}/erase", headers=ente_ctx.headers("admin")).json()
    assert erased["anonymised"] and erased["fiscal_code"] is None and erased["phones"] == [] and erased["emails"] == []
    after = client.get(f"/api/v1/contacts/{c['id']}/export", headers=ente_ctx.headers("admin")).json()
    assert "Mario" not in str(after) and "Verdi" not in str(after) and VALID_CF not in str(after)
    assert after["tickets"][0]["status"] == "new" and after["tickets"][0]["id"] == t["id"]  # statistics survive
    log = client.get(
        "/api/v1/audit", params={"entity": "contact", "entity_id": c["id"]}, headers=ente_ctx.headers("admin")
    ).json()
    assert {"export", "erase"} <= {e["action"] for e in log["items"]}

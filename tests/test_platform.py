"""Health, OpenAPI, auth on every route, roles, tenant isolation, error bodies."""

from __future__ import annotations

import re

import httpx
import pytest

from crm.config import Settings


def test_health_reports_components(client: httpx.Client) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    # this server has no Rasa and no action server: up, but degraded, and it says which part is down
    assert body["status"] == "degraded" and {"rasa", "action_server"} <= set(body["down"])
    assert body["components"]["database"]["status"] == "ok"


def test_openapi_lists_the_core_api(client: httpx.Client) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in (
        "/api/v1/auth/login",
        "/api/v1/contacts",
        "/api/v1/contacts/{contact_id}",
        "/api/v1/requests",
        "/api/v1/conversations",
        "/api/v1/operators",
    ):
        assert path in doc["paths"], path
    create = doc["paths"]["/api/v1/contacts"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "fiscal_code" in doc["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]


def test_every_api_route_requires_credentials(client: httpx.Client) -> None:
    """Walk the OpenAPI document: every route but login answers 401 without a token."""
    doc = client.get("/api/v1/openapi.json").json()
    checked = 0
    for path, ops in doc["paths"].items():
        for method in ops:
            if path in ("/api/v1/auth/login", "/api/v1/openapi.json") or "x-roles" not in ops[method]:
                continue
            url = re.sub(r"{[^}]+}", "1", path)
            r = client.request(method.upper(), url, json={})
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.json()["error"]["code"] == "unauthorized"
            checked += 1
    assert checked >= 20
    # and no route escapes the decorator: everything under /api/v1 is either public or has roles
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "x-roles" in op or path in ("/api/v1/auth/login", "/api/v1/openapi.json"), (method, path)


def test_login_and_lockout(client: httpx.Client, ente_ctx) -> None:
    user = ente_ctx.usernames["operator"]
    ok = client.post("/api/v1/auth/login", json={"username": user, "password": ente_ctx.passwords["operator"]})
    assert ok.status_code == 200
    token = ok.json()["access_token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["role"] == "operator" and me["ente_id"] == ente_ctx.ente_id
    unknown = client.post("/api/v1/auth/login", json={"username": "nobody-here", "password": "x" * 12})
    assert unknown.status_code == 401
    with httpx.Client(base_url=str(client.base_url)) as fresh:  # a device that never signed in (no device cookie)
        for _ in range(5):
            bad = fresh.post("/api/v1/auth/login", json={"username": user, "password": "wrong-password!"})
            assert bad.status_code == 401
        locked = fresh.post("/api/v1/auth/login", json={"username": user, "password": ente_ctx.passwords["operator"]})
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0


def test_garbage_and_expired_tokens_are_refused(client: httpx.Client) -> None:
    assert client.get("/api/v1/contacts", headers={"Authorization": "Bearer a.b.c"}).status_code == 401
    assert client.get("/api/v1/contacts", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert client.get("/api/v1/contacts", headers={"Authorization": "Basic Zm9vOmJhcg=="}).status_code == 401


def test_roles_are_enforced(client: httpx.Client, ente_ctx) -> None:
    body = {"username": f"new-{ente_ctx.slug}", "password": "una-password-lunga", "role": "operator"}
    r = client.post("/api/v1/operators", json=body, headers=ente_ctx.headers("phone_operator"))
    assert r.status_code == 403
    r = client.post("/api/v1/operators", json=body, headers=ente_ctx.headers("service"))
    assert r.status_code == 403
    r = client.post("/api/v1/operators", json=body, headers=ente_ctx.headers("admin"))
    assert r.status_code == 201, r.text
    assert client.get("/api/v1/audit", headers=ente_ctx.headers("operator")).status_code == 403


def test_tenant_isolation(client: httpx.Client, ente_ctx, other_ente) -> None:
    r = client.post(
        "/api/v1/contacts", json={"first_name": "Segreta", "last_name": "Altrove"}, headers=ente_ctx.headers("operator")
    )
    assert r.status_code == 201
    cid = r.json()["id"]
    assert client.get(f"/api/v1/contacts/{cid}", headers=other_ente.headers("admin")).status_code == 404
    listed = client.get("/api/v1/contacts", params={"q": "Segreta"}, headers=other_ente.headers("admin")).json()
    assert listed["total"] == 0
    assert client.get(f"/api/v1/contacts/{cid}", headers=other_ente.headers("service")).status_code == 404
    patch = client.patch(f"/api/v1/contacts/{cid}", json={"notes": "x"}, headers=other_ente.headers("admin"))
    assert patch.status_code == 404
    ticket = client.post(
        "/api/v1/requests",
        json={"contact_id": cid, "kind": "other", "subject": "x"},
        headers=other_ente.headers("operator"),
    )
    assert ticket.status_code == 404
    assert client.get(f"/api/v1/contacts/{cid}", headers=ente_ctx.headers("operator")).status_code == 200


def test_error_bodies(client: httpx.Client, ente_ctx) -> None:
    h = ente_ctx.headers("operator")
    r = client.post("/api/v1/contacts", content=b"{not json", headers={**h, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    r = client.post("/api/v1/contacts", json={"first_name": "A", "unknown": 1}, headers=h)
    assert r.status_code == 422 and "unknown" in r.json()["error"]["fields"]
    assert client.get("/api/v1/contacts/999999999", headers=h).status_code == 404
    assert client.get("/api/v1/contacts", params={"limit": "abc"}, headers=h).status_code == 422
    assert client.get("/api/v1/contacts", params={"sort": "password"}, headers=h).status_code == 422
    big = b'{"notes": "' + b"x" * 2_100_000 + b'"}'
    r = client.post("/api/v1/contacts", content=big, headers={**h, "content-type": "application/json"})
    assert r.status_code == 413


def test_production_refuses_default_secrets() -> None:
    with pytest.raises(RuntimeError, match="URP_SECRET_KEY"):
        Settings(env="production", public_url="https://urp.example.it").check_production()
    Settings(
        env="production",
        public_url="https://urp.example.it",
        secret_key="k" * 40,
        service_token="s" * 40,
        rasa_token="r" * 40,
        actions_secret="a" * 40,
    ).check_production()


def test_operator_admin_flow(client: httpx.Client, ente_ctx) -> None:
    h = ente_ctx.headers("admin")
    r = client.post(
        "/api/v1/operators",
        json={
            "username": f"nuovo-{ente_ctx.slug}",
            "password": "una-password-lunga",
            "role": "operator",
            "topics": ["urp"],
        },
        headers=h,
    )
    assert r.status_code == 201 and r.json()["topics"] == ["urp"]
    oid = r.json()["id"]
    r = client.patch(f"/api/v1/operators/{oid}", json={"topics": ["urp", "anagrafe"], "role": "backoffice"}, headers=h)
    assert r.status_code == 200 and r.json()["topics"] == ["anagrafe", "urp"] and r.json()["role"] == "backoffice"
    assert client.patch(f"/api/v1/operators/{oid}", json={"topics": ["nope"]}, headers=h).status_code == 422
    listed = client.get("/api/v1/operators", params={"role": "backoffice", "sort": "username"}, headers=h).json()
    assert listed["total"] == 2 and {o["id"] for o in listed["items"]} >= {oid}
    # a disabled operator's token stops working at once
    token = client.post(
        "/api/v1/auth/login", json={"username": f"nuovo-{ente_ctx.slug}", "password": "una-password-lunga"}
    ).json()["access_token"]
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    client.patch(f"/api/v1/operators/{oid}", json={"active": False}, headers=h)
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    audit = client.get("/api/v1/audit", params={"entity": "operator", "entity_id": oid}, headers=h).json()
    # the refused change left no trace; switching the account off is recorded as such, as from the console
    assert [e["action"] for e in audit["items"]] == ["deactivate", "update", "create"]


def test_a_process_serves_the_entes_its_slugs_and_prefixes_name(db) -> None:  # type: ignore[no-untyped-def]
    """URP_SCHEDULER_ENTES: exact slugs and ``prefix*``; a process that runs no scheduler also serves an ente created
    after it started (the turn queue asks at every poll)."""
    import uuid
    from types import SimpleNamespace

    from crm import scheduler
    from crm.db import transaction
    from crm.entes import service as entes
    from tests.conftest import make_ente

    tag = uuid.uuid4().hex[:8]
    group, solo = make_ente(db, slug=f"grp-{tag}-a"), make_ente(db, slug=f"solo-{tag}")
    near = make_ente(db, slug=f"grp-{tag}")

    async def go(maker):  # type: ignore[no-untyped-def]
        settings = SimpleNamespace(scheduler_entes=f"grp-{tag}-*, solo-{tag}")
        app = SimpleNamespace(ctx=SimpleNamespace(settings=settings, read_sessionmaker=maker))
        first = set(await scheduler.served_ente_ids(app) or [])
        async with transaction(maker) as s:
            late = await entes.create(s, slug=f"grp-{tag}-late", name="Comune tardivo", patron_day="06-29")
        return first, set(await scheduler.served_ente_ids(app) or []), late.id

    first, again, late = db.call(go)
    assert first == {group.ente_id, solo.ente_id} and near.ente_id not in first
    assert again == first | {late}

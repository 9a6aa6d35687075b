"""Istanze through the HTTP API: schema validation, protocol numbering under concurrency, lifecycle, external
protocol outages, attachments, look-up, receipt."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.conftest import VALID_CF, start_server

GENERIC = {"slug": "istanza-generica", "title": "Istanza generica",
           "form_schema": {"type": "object", "required": ["subject", "description"], "additionalProperties": False,
                           "properties": {"subject": {"type": "string", "minLength": 1, "maxLength": 200},
                                          "description": {"type": "string", "minLength": 1}}}}


def setup_ente(client: httpx.Client, ente_ctx, **type_overrides: Any) -> int:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/instance-types", json={**GENERIC, **type_overrides}, headers=ente_ctx.headers("admin"))
    assert r.status_code == 201, r.text
    c = client.post("/api/v1/contacts", json={"first_name": "Carla", "fiscal_code": VALID_CF,
                                              "phones": ["+39 347 5551234"], "preferred_channel": "sms"},
                    headers=ente_ctx.headers("operator"))
    return c.json()["id"]


def submit(client: httpx.Client, ente_ctx, cid: int, who: str = "service", **data: Any) -> httpx.Response:  # type: ignore[no-untyped-def]
    body = {"type": "istanza-generica", "contact_id": cid,
            "data": data or {"subject": "Richiesta copia delibera", "description": "Vorrei una copia."}}
    return client.post("/api/v1/instances", json=body, headers=ente_ctx.headers(who))


def test_submit_validates_and_protocols(client: httpx.Client, ente_ctx) -> None:
    cid = setup_ente(client, ente_ctx)
    bad = submit(client, ente_ctx, cid, subject="x")
    assert bad.status_code == 422 and bad.json()["error"]["fields"] == {"data.description": "required"}
    extra = submit(client, ente_ctx, cid, subject="x", description="y", other=1)
    assert extra.status_code == 422
    r = submit(client, ente_ctx, cid)
    assert r.status_code == 201
    body = r.json()
    year = datetime.now().year
    assert body["status"] == "protocolled" and body["protocol_number"] == f"{year}/000001"
    assert body["code"].startswith("IS-") and body["deadline_at"]
    unknown = client.post("/api/v1/instances", json={"type": "nope", "contact_id": cid, "data": {}},
                          headers=ente_ctx.headers("service"))
    assert unknown.status_code == 422 and unknown.json()["error"]["fields"] == {"type": "unknown type"}


def test_verified_identity_and_reference_list(client: httpx.Client, ente_ctx) -> None:
    h = ente_ctx.headers("admin")
    cid = setup_ente(client, ente_ctx)
    client.post("/api/v1/reference-lists/albo-associazioni", json={"value": "pro-loco", "label": "Pro Loco"}, headers=h)
    form = {"type": "object", "required": ["association", "event_date"],
            "properties": {"association": {"type": "string", "x-reference": "albo-associazioni"},
                           "event_date": {"type": "string", "format": "date"}}}
    client.post("/api/v1/instance-types", json={"slug": "richiesta-patrocinio", "title": "Patrocinio",
                                                "form_schema": form, "verified_identity_required": True}, headers=h)
    body = {"type": "richiesta-patrocinio", "contact_id": cid, "data": {"association": "pro-loco",
                                                                        "event_date": "2027-05-01"}}
    r = client.post("/api/v1/instances", json=body, headers=ente_ctx.headers("service"))
    assert r.status_code == 422 and r.json()["error"]["fields"] == {"contact_id": "verified identity required"}


def test_thirty_concurrent_submissions_get_gapless_numbers(server, client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    cid = setup_ente(client, ente_ctx)

    def one(i: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            return c.post("/api/v1/instances", headers=ente_ctx.headers("service"), json={
                "type": "istanza-generica", "contact_id": cid, "data": {"subject": f"n{i}", "description": "d"}})

    with ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(one, range(30)))
    assert [r.status_code for r in results] == [201] * 30
    numbers = sorted(int(r.json()["protocol_number"].split("/")[1]) for r in results)
    assert numbers == list(range(1, 31))


def test_lifecycle_clock_and_notifications(client: httpx.Client, ente_ctx, db) -> None:
    from sqlalchemy import select, update

    from crm.instances.models import Instance
    from crm.notifications.models import Notification

    cid = setup_ente(client, ente_ctx)
    inst = submit(client, ente_ctx, cid).json()
    url = f"/api/v1/instances/{inst['id']}/transition"
    bo = ente_ctx.headers("backoffice")
    assert client.post(url, json={"to": "accepted"}, headers=bo).status_code == 409
    assert client.post(url, json={"to": "in_charge"}, headers=bo).json()["status"] == "in_charge"
    assert client.post(url, json={"to": "integration_requested"}, headers=bo).status_code == 422  # note required
    r = client.post(url, json={"to": "integration_requested", "note": "Manca la copia del documento."}, headers=bo)
    assert r.json()["clock_paused"] is True
    deadline_before = datetime.fromisoformat(r.json()["deadline_at"])

    async def ten_days_ago(s):  # type: ignore[no-untyped-def]
        from crm.db import utcnow

        await s.execute(update(Instance).where(Instance.id == inst["id"]).values(paused_at=utcnow()
                                                                                - timedelta(days=10)))

    db.run(ten_days_ago)
    r = client.post(url, json={"to": "integrated", "note": "allegato inviato"}, headers=ente_ctx.headers("admin"))
    after = datetime.fromisoformat(r.json()["deadline_at"])
    assert timedelta(days=9, hours=23) < after - deadline_before < timedelta(days=10, minutes=5)
    assert client.post(url, json={"to": "withdrawn"}, headers=ente_ctx.headers("service")).status_code == 200
    assert client.post(url, json={"to": "accepted"}, headers=bo).status_code == 409
    full = client.get(f"/api/v1/instances/{inst['id']}", headers=bo).json()
    assert [e["to"] for e in full["events"]] == ["submitted", "protocolled", "in_charge", "integration_requested",
                                                 "integrated", "withdrawn"]
    assert all(e["actor_name"] for e in full["events"])

    async def kinds(s):  # type: ignore[no-untyped-def]
        rows = (await s.scalars(select(Notification).where(Notification.contact_id == cid))).all()
        return sorted(n.kind for n in rows)

    assert db.run(kinds) == ["instance.in_charge", "instance.integration_requested", "instance.protocolled"]


class FakeProtocol:
    """An external protocol system on loopback that can be down; registrations are idempotent by key."""

    def __init__(self) -> None:
        self.up = False
        self.calls: list[str] = []
        self.numbers: dict[str, str] = {}
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length") or 0))
                key = self.headers.get("Idempotency-Key", "")
                outer.calls.append(key)
                if not outer.up or self.headers.get("Authorization") != "Bearer proto-token":
                    self.send_response(503 if not outer.up else 401)
                    self.end_headers()
                    return
                number = outer.numbers.setdefault(key, f"EXT/{len(outer.numbers) + 1:05d}")
                data = json.dumps({"protocol_number": number}).encode()
                self.send_response(201)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def test_external_protocol_outage_and_restart(base_env, tmp_path, ente_ctx, db) -> None:  # type: ignore[no-untyped-def]
    from crm.instances.protocol import HttpProtocol
    from crm.instances.service import process_protocol_outbox

    fake = FakeProtocol()
    env = {**base_env, "URP_PROTOCOL_URL": fake.url, "URP_PROTOCOL_TOKEN": "proto-token"}
    srv = start_server(env, tmp_path / "proto.log")
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            cid = setup_ente(c, ente_ctx)
            first = submit(c, ente_ctx, cid).json()
            assert first["status"] == "submitted" and first["protocol_number"] is None
            adapter = HttpProtocol(fake.url, "proto-token")
            assert db.call(lambda m: process_protocol_outbox(m, adapter)) == 0  # outage: kept, retried later
            assert c.get(f"/api/v1/instances/{first['id']}", headers=ente_ctx.headers("operator")).json()[
                "status"] == "submitted"
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=15)

    from sqlalchemy import update

    from crm.instances.models import ProtocolOutbox

    async def due(s):  # type: ignore[no-untyped-def]
        from crm.db import utcnow

        await s.execute(update(ProtocolOutbox).values(next_attempt_at=utcnow() - timedelta(seconds=1)))

    db.run(due)
    fake.up = True
    # a fresh process (engine) after the restart picks the outbox up
    assert db.call(lambda m: process_protocol_outbox(m, HttpProtocol(fake.url, "proto-token"))) >= 1
    assert db.call(lambda m: process_protocol_outbox(m, HttpProtocol(fake.url, "proto-token"))) == 0

    async def state(s):  # type: ignore[no-untyped-def]
        from crm.instances.models import Instance

        i = await s.get(Instance, first["id"])
        return i.status, i.protocol_number

    assert db.run(state) == ("protocolled", "EXT/00001")
    key = f"{ente_ctx.ente_id}-{first['code']}"
    assert fake.calls.count(key) == 2 and list(fake.numbers) == [key]  # one failed try, one registration


def test_attachments_lookup_and_receipt(client: httpx.Client, ente_ctx) -> None:
    cid = setup_ente(client, ente_ctx)
    inst = submit(client, ente_ctx, cid).json()
    url = f"/api/v1/instances/{inst['id']}/attachments"
    h = ente_ctx.headers("service")
    pdf = b"%PDF-1.4\n% test\n" + b"0" * 1000
    r = client.post(url, files={"file": ("documento.pdf", pdf, "application/pdf")}, headers=h)
    assert r.status_code == 201 and len(r.json()["sha256"]) == 64
    got = client.get(f"{url}/{r.json()['id']}", headers=h)
    assert got.content == pdf
    exe = client.post(url, files={"file": ("virus.pdf", b"MZ\x90\x00", "application/pdf")}, headers=h)
    assert exe.status_code == 422
    big = client.post(url, files={"file": ("big.pdf", b"%PDF" + b"0" * 1_600_000, "application/pdf")}, headers=h)
    assert big.status_code in (413, 422)
    assert client.post(url, headers=h).status_code == 422
    ok = client.post("/api/v1/instances/lookup", json={"code": inst["code"], "second_factor": "1234"}, headers=h)
    assert ok.status_code == 200 and ok.json()["protocol_number"] == inst["protocol_number"]
    assert client.post("/api/v1/instances/lookup", json={"code": inst["code"], "second_factor": VALID_CF},
                       headers=h).status_code == 200
    for _ in range(5):
        assert client.post("/api/v1/instances/lookup", json={"code": inst["code"], "second_factor": "9999"},
                           headers=h).status_code == 404
    assert client.post("/api/v1/instances/lookup", json={"code": inst["code"], "second_factor": "1234"},
                       headers=h).status_code == 429
    receipt = client.get(f"/api/v1/instances/{inst['id']}/receipt.pdf", headers=h)
    assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF")
    from pypdf import PdfReader  # noqa: PLC0415

    import io

    text = PdfReader(io.BytesIO(receipt.content)).pages[0].extract_text()
    assert inst["code"] in text and inst["protocol_number"] in text and "Ricevuta" in text


def test_isolation_and_roles(client: httpx.Client, ente_ctx, other_ente) -> None:
    cid = setup_ente(client, ente_ctx)
    inst = submit(client, ente_ctx, cid).json()
    assert client.get(f"/api/v1/instances/{inst['id']}", headers=other_ente.headers("admin")).status_code == 404
    assert client.post(f"/api/v1/instances/{inst['id']}/transition", json={"to": "in_charge"},
                       headers=ente_ctx.headers("service")).status_code == 422
    on_behalf = client.post("/api/v1/instances", headers=ente_ctx.headers("phone_operator"), json={
        "type": "istanza-generica", "contact_id": cid, "on_behalf_of": cid, "channel": "phone",
        "data": {"subject": "al telefono", "description": "chiamata"}})
    assert on_behalf.status_code == 201 and on_behalf.json()["on_behalf"] is True

"""Istanze through the HTTP API: schema validation, protocol numbering under concurrency, lifecycle, external
protocol outages, attachments, look-up, receipt."""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.conftest import VALID_CF, start_server

GENERIC = {
    "slug": "istanza-generica",
    "title": "Istanza generica",
    "form_schema": {
        "type": "object",
        "required": ["subject", "description"],
        "additionalProperties": False,
        "properties": {
            "subject": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string", "minLength": 1},
        },
    },
}


def setup_ente(client: httpx.Client, ente_ctx, **type_overrides: Any) -> int:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/instance-types", json={**GENERIC, **type_overrides}, headers=ente_ctx.headers("admin"))
    assert r.status_code == 201, r.text
    c = client.post(
        "/api/v1/contacts",
        json={
            "first_name": "Carla",
            "fiscal_code": VALID_CF,
            "phones": ["+39 347 5551234"],
            "preferred_channel": "sms",
        },
        headers=ente_ctx.headers("operator"),
    )
    return c.json()["id"]


def submit(client: httpx.Client, ente_ctx, cid: int, who: str = "service", **data: Any) -> httpx.Response:  # type: ignore[no-untyped-def]
    body = {
        "type": "istanza-generica",
        "contact_id": cid,
        "data": data or {"subject": "Richiesta copia delibera", "description": "Vorrei una copia."},
    }
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
    unknown = client.post(
        "/api/v1/instances", json={"type": "nope", "contact_id": cid, "data": {}}, headers=ente_ctx.headers("service")
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["fields"] == {"type": "unknown type"}


def test_verified_identity_and_reference_list(client: httpx.Client, ente_ctx) -> None:
    h = ente_ctx.headers("admin")
    cid = setup_ente(client, ente_ctx)
    client.post("/api/v1/reference-lists/albo-associazioni", json={"value": "pro-loco", "label": "Pro Loco"}, headers=h)
    form = {
        "type": "object",
        "required": ["association", "event_date"],
        "properties": {
            "association": {"type": "string", "x-reference": "albo-associazioni"},
            "event_date": {"type": "string", "format": "date"},
        },
    }
    client.post(
        "/api/v1/instance-types",
        json={
            "slug": "richiesta-patrocinio",
            "title": "Patrocinio",
            "form_schema": form,
            "verified_identity_required": True,
        },
        headers=h,
    )
    body = {
        "type": "richiesta-patrocinio",
        "contact_id": cid,
        "data": {"association": "pro-loco", "event_date": "2027-05-01"},
    }
    r = client.post("/api/v1/instances", json=body, headers=ente_ctx.headers("service"))
    assert r.status_code == 422 and r.json()["error"]["fields"] == {"contact_id": "verified identity required"}


def test_thirty_concurrent_submissions_get_gapless_numbers(server, client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    cid = setup_ente(client, ente_ctx)

    def one(i: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            return c.post(
                "/api/v1/instances",
                headers=ente_ctx.headers("service"),
                json={"type": "istanza-generica", "contact_id": cid, "data": {"subject": f"n{i}", "description": "d"}},
            )

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

        await s.execute(
            update(Instance).where(Instance.id == inst["id"]).values(paused_at=utcnow() - timedelta(days=10))
        )

    db.run(ten_days_ago)
    r = client.post(url, json={"to": "integrated", "note": "allegato inviato"}, headers=ente_ctx.headers("admin"))
    after = datetime.fromisoformat(r.json()["deadline_at"])
    assert timedelta(days=9, hours=23) < after - deadline_before < timedelta(days=10, minutes=5)
    assert client.post(url, json={"to": "withdrawn"}, headers=ente_ctx.headers("service")).status_code == 200
    assert client.post(url, json={"to": "accepted"}, headers=bo).status_code == 409
    full = client.get(f"/api/v1/instances/{inst['id']}", headers=bo).json()
    assert [e["to"] for e in full["events"]] == [
        "submitted",
        "protocolled",
        "in_charge",
        "integration_requested",
        "integrated",
        "withdrawn",
    ]
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
            assert (
                c.get(f"/api/v1/instances/{first['id']}", headers=ente_ctx.headers("operator")).json()["status"]
                == "submitted"
            )
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
    assert (
        client.post(
            "/api/v1/instances/lookup", json={"code": inst["code"], "second_factor": VALID_CF}, headers=h
        ).status_code
        == 200
    )
    for _ in range(5):
        assert (
            client.post(
                "/api/v1/instances/lookup", json={"code": inst["code"], "second_factor": "9999"}, headers=h
            ).status_code
            == 404
        )
    assert (
        client.post(
            "/api/v1/instances/lookup", json={"code": inst["code"], "second_factor": "1234"}, headers=h
        ).status_code
        == 429
    )
    receipt = client.get(f"/api/v1/instances/{inst['id']}/receipt.pdf", headers=h)
    assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF")
    import io

    from pypdf import PdfReader  # noqa: PLC0415

    text = PdfReader(io.BytesIO(receipt.content)).pages[0].extract_text()
    assert inst["code"] in text and inst["protocol_number"] in text and "Ricevuta" in text


def test_isolation_and_roles(client: httpx.Client, ente_ctx, other_ente) -> None:
    cid = setup_ente(client, ente_ctx)
    inst = submit(client, ente_ctx, cid).json()
    assert client.get(f"/api/v1/instances/{inst['id']}", headers=other_ente.headers("admin")).status_code == 404
    # only the office decides (crm.instances.policies.HANDLE): the assistant may only withdraw
    assert (
        client.post(
            f"/api/v1/instances/{inst['id']}/transition", json={"to": "in_charge"}, headers=ente_ctx.headers("service")
        ).status_code
        == 403
    )
    on_behalf = client.post(
        "/api/v1/instances",
        headers=ente_ctx.headers("phone_operator"),
        json={
            "type": "istanza-generica",
            "contact_id": cid,
            "on_behalf_of": cid,
            "channel": "phone",
            "data": {"subject": "al telefono", "description": "chiamata"},
        },
    )
    assert on_behalf.status_code == 201 and on_behalf.json()["on_behalf"] is True


# --- attachments sent with the submission ----------------------------------------------------------------------------

PDF = b"%PDF-1.4\n% planimetria\n" + b"0" * 2000
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 500
SUOLO = {
    "slug": "occupazione-suolo-pubblico",
    "title": "Occupazione di suolo pubblico",
    "required_attachments": ["planimetria"],
    "form_schema": {
        "type": "object",
        "required": ["place"],
        "properties": {"place": {"type": "string", "minLength": 1}},
    },
}


def b64(body: bytes) -> str:
    import base64

    return base64.b64encode(body).decode()


def att(
    kind: str, body: bytes, content_type: str = "application/pdf", filename: str = "planimetria.pdf", **extra: Any
) -> dict[str, Any]:
    return {"kind": kind, "filename": filename, "content_type": content_type, "content_base64": b64(body), **extra}


def submit_suolo(
    client: httpx.Client,
    ente_ctx,
    cid: int,
    attachments: list[dict[str, Any]],  # type: ignore[no-untyped-def]
    **data: Any,
) -> httpx.Response:
    body = {
        "type": "occupazione-suolo-pubblico",
        "contact_id": cid,
        "data": data or {"place": "Piazza Roma"},
        "attachments": attachments,
    }
    return client.post("/api/v1/instances", json=body, headers=ente_ctx.headers("service"))


def count_instances(client: httpx.Client, ente_ctx, cid: int) -> int:  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/instances", params={"contact_id": cid}, headers=ente_ctx.headers("operator"))
    assert r.status_code == 200, r.text
    return r.json()["total"]


def count_attachment_rows(db, ente_id: int) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from crm.instances.models import Attachment

    async def work(s):  # type: ignore[no-untyped-def]
        return await s.scalar(select(func.count()).select_from(Attachment).where(Attachment.ente_id == ente_id))

    return db.run(work)


def test_required_attachments_enforced_at_submission(client: httpx.Client, ente_ctx, db, base_env) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    cid = setup_ente(client, ente_ctx)
    assert client.post("/api/v1/instance-types", json=SUOLO, headers=ente_ctx.headers("admin")).status_code == 201
    files_dir = Path(base_env["URP_VAR_DIR"]) / "attachments" / str(ente_ctx.ente_id)

    missing = submit_suolo(client, ente_ctx, cid, [att("foto", PNG, "image/png", "foto.png")])
    assert missing.status_code == 422, missing.text
    assert missing.json()["error"]["fields"] == {"attachments.planimetria": "required"}
    both = submit_suolo(client, ente_ctx, cid, [], place="")  # one 422 names the form and the attachments
    assert set(both.json()["error"]["fields"]) == {"data.place", "attachments.planimetria"}

    bad_b64 = submit_suolo(client, ente_ctx, cid, [{**att("planimetria", PDF), "content_base64": "%%%not base64"}])
    assert bad_b64.status_code == 422
    assert "attachments.0.content_base64" in bad_b64.json()["error"]["fields"]
    exe = submit_suolo(client, ente_ctx, cid, [att("planimetria", b"MZ\x90\x00" + b"0" * 100)])  # says PDF, is not
    assert exe.status_code == 422
    assert exe.json()["error"]["fields"] == {"attachments.0.content_type": "type not allowed"}
    text_file = submit_suolo(client, ente_ctx, cid, [att("planimetria", b"ciao", "text/plain", "note.txt")])
    assert text_file.json()["error"]["fields"] == {"attachments.0.content_type": "type not allowed"}
    empty = submit_suolo(client, ente_ctx, cid, [{**att("planimetria", PDF), "content_base64": ""}])
    assert empty.status_code == 422
    too_many = submit_suolo(client, ente_ctx, cid, [att("planimetria", PDF)] * 11)
    assert too_many.status_code == 422 and "attachments" in too_many.json()["error"]["fields"]
    # nothing half-written: no istanza, no attachment row, no file
    assert count_instances(client, ente_ctx, cid) == 0
    assert count_attachment_rows(db, ente_ctx.ente_id) == 0
    assert not files_dir.exists()

    # a storage failure after the istanza row was written rolls everything back too
    files_dir.parent.mkdir(parents=True, exist_ok=True)
    files_dir.write_bytes(b"not a directory")
    try:
        broken = submit_suolo(client, ente_ctx, cid, [att("planimetria", PDF)])
        assert broken.status_code == 500
    finally:
        files_dir.unlink()
    assert count_instances(client, ente_ctx, cid) == 0 and count_attachment_rows(db, ente_ctx.ente_id) == 0

    # line breaks in the base64 (MIME style) are fine
    wrapped = b64(PDF)
    wrapped = "\n".join(wrapped[i : i + 76] for i in range(0, len(wrapped), 76))
    ok = submit_suolo(
        client,
        ente_ctx,
        cid,
        [{**att("planimetria", PDF), "content_base64": wrapped}, att("foto", PNG, "image/png", "foto del luogo.png")],
    )
    assert ok.status_code == 201, ok.text
    inst = ok.json()
    assert inst["status"] == "protocolled" and [a["kind"] for a in inst["attachments"]] == ["planimetria", "foto"]
    h = ente_ctx.headers("backoffice")
    full = client.get(f"/api/v1/instances/{inst['id']}", headers=h).json()
    assert {a["kind"]: a["sha256"] for a in full["attachments"]} == {
        "planimetria": hashlib.sha256(PDF).hexdigest(),
        "foto": hashlib.sha256(PNG).hexdigest(),
    }
    for a, original in zip(full["attachments"], (PDF, PNG), strict=True):
        got = client.get(f"/api/v1/instances/{inst['id']}/attachments/{a['id']}", headers=h)
        assert got.status_code == 200
        assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(original).hexdigest() == a["sha256"]
        assert got.headers["content-type"] == a["content_type"]
    assert count_instances(client, ente_ctx, cid) == 1

    async def stored_before_protocol(s):  # type: ignore[no-untyped-def]
        from sqlalchemy import select

        from crm.instances.models import Attachment, Instance

        i = await s.get(Instance, inst["id"])
        times = (await s.scalars(select(Attachment.uploaded_at).where(Attachment.instance_id == i.id))).all()
        return all(t <= i.protocolled_at for t in times) and len(times) == 2

    assert db.run(stored_before_protocol)

    # later additions keep using the multipart endpoint, e.g. during an integration, which then completes as before
    url = f"/api/v1/instances/{inst['id']}/transition"
    assert client.post(url, json={"to": "in_charge"}, headers=h).status_code == 200
    assert (
        client.post(url, json={"to": "integration_requested", "note": "Planimetria in scala 1:100."}, headers=h).json()[
            "status"
        ]
        == "integration_requested"
    )
    up = client.post(
        f"/api/v1/instances/{inst['id']}/attachments",
        data={"kind": "planimetria"},
        files={"file": ("planimetria-2.pdf", PDF + b"v2", "application/pdf")},
        headers=ente_ctx.headers("service"),
    )
    assert up.status_code == 201 and up.json()["kind"] == "planimetria"
    done = client.post(url, json={"to": "integrated", "note": "inviata"}, headers=h)
    assert done.status_code == 200 and done.json()["status"] == "integrated"


# --- admins manage types and reference lists -------------------------------------------------------------------------


def audit_actions(client: httpx.Client, ente_ctx, entity: str, entity_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    r = client.get(
        "/api/v1/audit", params={"entity": entity, "entity_id": entity_id}, headers=ente_ctx.headers("admin")
    )
    assert r.status_code == 200
    return sorted(e["action"] for e in r.json()["items"])


def test_admin_updates_and_deactivates_instance_types(client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    cid = setup_ente(client, ente_ctx)
    admin, op = ente_ctx.headers("admin"), ente_ctx.headers("operator")
    url = "/api/v1/instance-types/istanza-generica"
    assert client.patch(url, json={"title": "Altro"}, headers=op).status_code == 403
    assert client.delete(url, headers=op).status_code == 403
    assert client.get("/api/v1/instance-types", params={"include_inactive": "true"}, headers=op).status_code == 403
    assert client.patch("/api/v1/instance-types/nope", json={"title": "Altro"}, headers=admin).status_code == 404
    bad_schema = client.patch(url, json={"form_schema": {"type": "oggetto"}}, headers=admin)
    assert bad_schema.status_code == 422 and "form_schema" in bad_schema.json()["error"]["fields"]
    assert client.patch(url, json={"office_id": 999_999_999}, headers=admin).json()["error"]["fields"] == {
        "office_id": "unknown office"
    }
    assert client.patch(url, json={"slug": "renamed"}, headers=admin).status_code == 422
    r = client.patch(
        url,
        json={
            "title": "Istanza generica al Comune",
            "deadline_days": 60,
            "office_id": ente_ctx.offices["URP"],
            "required_attachments": ["documento"],
        },
        headers=admin,
    )
    assert r.status_code == 200, r.text
    t = r.json()
    assert (t["title"], t["deadline_days"], t["office_id"], t["required_attachments"], t["active"]) == (
        "Istanza generica al Comune",
        60,
        ente_ctx.offices["URP"],
        ["documento"],
        True,
    )
    assert submit(client, ente_ctx, cid).json()["error"]["fields"] == {"attachments.documento": "required"}
    assert (
        client.patch(url, json={"required_attachments": [], "office_id": None}, headers=admin).json()["office_id"]
        is None
    )
    inst = submit(client, ente_ctx, cid)
    assert inst.status_code == 201 and inst.json()["deadline_at"]

    gone = client.delete(url, headers=admin)
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert client.delete(url, headers=admin).status_code == 200  # idempotent
    assert "istanza-generica" not in [
        x["slug"] for x in client.get("/api/v1/instance-types", headers=op).json()["items"]
    ]
    listed = client.get("/api/v1/instance-types", params={"include_inactive": "true"}, headers=admin).json()["items"]
    assert [(x["slug"], x["active"]) for x in listed] == [("istanza-generica", False)]
    refused = submit(client, ente_ctx, cid)
    assert refused.status_code == 422 and refused.json()["error"]["fields"] == {"type": "unknown type"}
    # existing istanze keep their type
    assert client.get(f"/api/v1/instances/{inst.json()['id']}", headers=op).json()["type"] == "istanza-generica"
    mine = client.get("/api/v1/instances", params={"type": "istanza-generica"}, headers=op).json()
    assert mine["total"] == 1 and mine["items"][0]["type"] == "istanza-generica"

    assert client.patch(url, json={"active": True}, headers=admin).json()["active"] is True
    assert submit(client, ente_ctx, cid).status_code == 201
    assert audit_actions(client, ente_ctx, "instance_type", t["id"]) == [
        "create",
        "deactivate",
        "update",
        "update",
        "update",
    ]


def test_admin_manages_reference_lists(client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    cid = setup_ente(client, ente_ctx)
    admin, op = ente_ctx.headers("admin"), ente_ctx.headers("operator")
    base = "/api/v1/reference-lists/albo-associazioni"
    created = client.post(base, json={"value": "pro-loco", "label": "Pro Loco"}, headers=admin)
    assert created.status_code == 201 and created.json()["active"] is True
    dup = client.post(base, json={"value": "pro-loco", "label": "Pro Loco bis"}, headers=admin)
    assert dup.status_code == 409 and dup.json()["error"]["fields"] == {"value": "already used"}
    assert client.post(base, json={"value": "avis", "label": "AVIS"}, headers=op).status_code == 403
    assert (
        client.post("/api/v1/reference-lists/Albo_X", json={"value": "a", "label": "b"}, headers=admin).status_code
        == 422
    )
    assert client.post(base, json={"value": "banda musicale", "label": "Banda"}, headers=admin).status_code == 201

    assert client.patch(f"{base}/pro-loco", json={"label": "X"}, headers=op).status_code == 403
    assert client.delete(f"{base}/pro-loco", headers=op).status_code == 403
    assert client.patch(f"{base}/nessuna", json={"label": "X"}, headers=admin).status_code == 404
    r = client.patch(f"{base}/pro-loco", json={"label": "Pro Loco Borgo Aurelio"}, headers=admin)
    assert r.status_code == 200 and r.json()["label"] == "Pro Loco Borgo Aurelio"
    spaced = client.patch(f"{base}/banda%20musicale", json={"label": "Banda musicale G. Verdi"}, headers=admin)
    assert spaced.status_code == 200 and spaced.json()["value"] == "banda musicale", spaced.text

    form = {
        "type": "object",
        "required": ["association"],
        "properties": {"association": {"type": "string", "x-reference": "albo-associazioni"}},
    }
    client.post(
        "/api/v1/instance-types",
        json={"slug": "richiesta-patrocinio", "title": "Patrocinio", "form_schema": form},
        headers=admin,
    )

    def patrocinio(value: str) -> httpx.Response:
        return client.post(
            "/api/v1/instances",
            headers=ente_ctx.headers("service"),
            json={"type": "richiesta-patrocinio", "contact_id": cid, "data": {"association": value}},
        )

    assert patrocinio("pro-loco").status_code == 201
    off = client.delete(f"{base}/pro-loco", headers=admin)
    assert off.status_code == 200 and off.json()["active"] is False
    assert [i["value"] for i in client.get(base, headers=op).json()["items"]] == ["banda musicale"]
    assert client.get(base, params={"include_inactive": "true"}, headers=op).status_code == 403
    everything = client.get(base, params={"include_inactive": "true"}, headers=admin).json()["items"]
    assert {i["value"]: i["active"] for i in everything} == {"pro-loco": False, "banda musicale": True}
    assert patrocinio("pro-loco").status_code == 422  # no longer accepted for new submissions
    again = client.post(base, json={"value": "pro-loco", "label": "Pro Loco"}, headers=admin)
    assert again.status_code == 409 and "active=true" in again.json()["error"]["message"]
    assert client.patch(f"{base}/pro-loco", json={"active": True}, headers=admin).json()["active"] is True
    assert patrocinio("pro-loco").status_code == 201
    assert audit_actions(client, ente_ctx, "reference_item", created.json()["id"]) == [
        "create",
        "deactivate",
        "update",
        "update",
    ]


# --- status look-up throttle, shared through the database ------------------------------------------------------------


def lookup(c: httpx.Client, ente_ctx, code: str, factor: str, caller: str | None = None) -> httpx.Response:  # type: ignore[no-untyped-def]
    headers = ente_ctx.headers("service")
    if caller:
        headers["X-Citizen-Key"] = caller
    return c.post("/api/v1/instances/lookup", json={"code": code, "second_factor": factor}, headers=headers)


def test_lookup_throttle_is_shared_by_replicas(client: httpx.Client, ente_ctx, base_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cid = setup_ente(client, ente_ctx)
    first, second, third = (submit(client, ente_ctx, cid).json()["code"] for _ in range(3))
    replica = start_server(base_env, tmp_path / "replica.log")
    try:
        with httpx.Client(base_url=replica.url, timeout=30) as other:
            # per code: 5 wrong factors (on both replicas) and even the right one is refused, everywhere
            for i in range(5):
                assert lookup(client if i % 2 else other, ente_ctx, first, "9999").status_code == 404
            throttled = lookup(client, ente_ctx, first, "1234")
            assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "too_many_requests"
            assert 0 < int(throttled.headers["retry-after"]) <= 900
            assert lookup(other, ente_ctx, first, VALID_CF).status_code == 429
            assert lookup(other, ente_ctx, second, "1234").status_code == 200  # another code is not affected

            # a success does not reset a counter others share
            for _ in range(4):
                assert lookup(client, ente_ctx, second, "0000", caller="tg:guesser").status_code == 404
            assert lookup(other, ente_ctx, second, "1234", caller="tg:owner").status_code == 200
            assert lookup(other, ente_ctx, second, "0000", caller="tg:guesser").status_code == 404
            assert lookup(client, ente_ctx, second, "1234", caller="tg:owner").status_code == 429

            # per caller: one sender enumerating codes is stopped after 20 failures, other senders are not
            for i in range(20):
                r = lookup(client if i % 2 else other, ente_ctx, f"IS-{i:06d}", "1234", caller="tg:enumerator")
                assert r.status_code == 404, (i, r.text)
            blocked = lookup(other, ente_ctx, third, "1234", caller="tg:enumerator")
            assert blocked.status_code == 429 and "caller" in blocked.json()["error"]["message"]
            assert lookup(client, ente_ctx, third, "1234", caller="tg:someone-else").status_code == 200
            assert lookup(client, ente_ctx, third, "1234").status_code == 200
    finally:
        replica.proc.terminate()
        replica.proc.wait(timeout=15)


def test_rate_limiter_prunes_expired_hits(db) -> None:  # type: ignore[no-untyped-def]
    import uuid

    from sqlalchemy import func, select

    from crm.core import ratelimit
    from crm.db import utcnow

    key = f"test:{uuid.uuid4().hex}"
    lim = ratelimit.Limit(key, 2, timedelta(minutes=1))

    async def old_hits(s):  # type: ignore[no-untyped-def]
        for _ in range(3):
            await ratelimit.hit(s, [lim], now=utcnow() - timedelta(hours=1), prune_chance=0)

    db.run(old_hits)

    async def check_and_hit(s):  # type: ignore[no-untyped-def]
        await ratelimit.check(s, [lim])  # expired hits do not count
        await ratelimit.hit(s, [lim], prune_chance=1)
        rows = await s.scalar(
            select(func.count()).select_from(ratelimit.RateLimitHit).where(ratelimit.RateLimitHit.key == key)
        )
        return rows, await ratelimit.count(s, key)

    assert db.run(check_and_hit) == (1, 1)  # the three expired rows were pruned

    async def exhaust(s):  # type: ignore[no-untyped-def]
        await ratelimit.hit(s, [lim], prune_chance=0)
        try:
            await ratelimit.check(s, [lim])
        except Exception as exc:  # noqa: BLE001
            return type(exc).__name__, exc.headers.get("Retry-After")
        return None

    name, retry_after = db.run(exhaust)
    assert name == "TooManyRequests" and 0 < int(retry_after) <= 60

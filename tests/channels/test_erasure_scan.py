"""GDPR erasure that erases: a citizen who used every channel (SMS, Telegram, web chat) and every flow (bot, hand-off
and operator reply, photos sent on Telegram, by MMS and on the web chat, request with notes, istanza with an
attachment and a history note, booking with its form and notices, KB feedback and a gap with their fiscal code) is
erased (the phone desk's request with the caller's document and a segnalazione's photo too: every file store, a
table with a ``storage_key``, holds one of their files, and each must be walked by the erasure); then every table of
the database (every text and JSON column), every file under the var directory and Rasa's
tracker (its HTTP API and its store) are searched for their surname, fiscal code, phone number and e-mail, and none
is found.

The count of stores checked is printed (``-s``)."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from pathlib import Path

import httpx
from twilio.request_validator import RequestValidator

from tests.channels.conftest import TG_SECRET, TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN, FakeTelegram, Stack
from tests.channels.test_channels import sms, tg_update
from tests.security.scan import _file_stores, _needles, _person, _scan_database, _scan_files, report
from tests.security.test_request_files_privacy import _add_report_photo, _request_with_files


def _wait(cond, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError("condition not met in time")


def test_erasure_leaves_nothing_anywhere(stack: Stack, needs_rasa, db, database_url: str) -> None:  # type: ignore[no-untyped-def]
    p = _person()
    needles = _needles(p)
    ente = stack.ente
    op, admin, svc = ente.headers("operator"), ente.headers("admin"), ente.headers("service")
    c = stack.client()
    person = c.post(
        "/api/v1/contacts",
        headers=op,
        json={
            "first_name": p["first"],
            "last_name": p["last"],
            "fiscal_code": p["cf"],
            "phones": [p["phone"]],
            "emails": [p["email"]],
            "notes": f"chiamata da {p['phone']}",
            "preferred_channel": "sms",
        },
    )
    assert person.status_code == 201, person.text
    cid = person.json()["id"]

    # SMS to the bot, naming themselves
    assert (
        sms(
            stack,
            p["phone"],
            f"Buongiorno, sono {p['first']} {p['last']}, codice fiscale {p['cf']}. "
            "Come si rinnova la carta d'identità?",
        ).status_code
        == 200
    )
    # Telegram: shares the phone (linking the chat to the contact), writes, asks for a person, an operator answers
    user = 930_000_000 + secrets.randbelow(10**6)
    tg_update(stack, user, contact_phone=p["phone"])
    tg_update(stack, user, f"la mia email è {p['email']}")
    # a photo on Telegram and one by MMS, their pictures carrying the person's words (a photographed document)
    from tests.channels.test_attachments import image

    FakeTelegram.files[f"erase{user}"] = image("PNG", note=f"{p['last']} {p['cf']}")
    r = httpx.post(
        stack.crm.url + "/channels/telegram/webhook",
        json={
            "update_id": 20_000_000 + secrets.randbelow(10**6),
            "message": {
                "message_id": 1,
                "date": 1,
                "chat": {"id": user, "type": "private"},
                "from": {"id": user, "is_bot": False, "first_name": p["first"]},
                "caption": "la mia carta d'identità",
                "document": {"file_id": f"erase{user}", "file_unique_id": "e", "file_name": f"{p['last']}.png"},
            },
        },
        headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
        timeout=60,
    )
    assert r.status_code == 200
    media = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/MM{uuid.uuid4().hex}/Media/ME{uuid.uuid4().hex}"
    stack.twilio.media[media] = (image("PNG", note=f"{p['phone']} {p['email']}"), "image/png")
    params = {
        "From": p["phone"],
        "To": TWILIO_FROM,
        "Body": "la foto del modulo",
        "MessageSid": f"MM{uuid.uuid4().hex}",
        "AccountSid": TWILIO_SID,
        "NumMedia": "1",
        "MediaUrl0": stack.twilio.url + media,
        "MediaContentType0": "image/png",
    }
    url = stack.crm.url + "/channels/twilio/sms"
    signed = {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(url, params)}
    assert httpx.post(url, data=params, headers=signed, timeout=60).status_code == 200
    tg_update(stack, user, "vorrei parlare con un operatore")
    conv = _wait(
        lambda: next(
            (
                i
                for i in c.get(
                    "/api/v1/conversations", params={"contact_id": cid, "channel": "telegram"}, headers=op
                ).json()["items"]
                if i["mode"] == "waiting"
            ),
            None,
        )
    )
    assert c.post(f"/api/v1/conversations/{conv['id']}/take", headers=op).status_code == 200
    assert (
        c.post(
            f"/api/v1/conversations/{conv['id']}/messages",
            headers=op,
            json={"text": f"Gentile {p['first']} {p['last']}, la richiamiamo al {p['phone']}."},
        ).status_code
        == 201
    )
    # web chat, then the web visitor is recognised and merged into the contact
    from websockets.sync.client import connect

    session = str(uuid.uuid4())

    async def web_contact(s):  # type: ignore[no-untyped-def]
        from sqlalchemy import select

        from crm.contacts.models import ContactIdentity

        return await s.scalar(
            select(ContactIdentity.contact_id).where(
                ContactIdentity.channel == "web", ContactIdentity.external_id == session
            )
        )

    with connect(stack.crm.url.replace("http", "ws") + "/channels/web/ws", open_timeout=60) as ws:
        ws.send(json.dumps({"type": "hello", "session": session}))
        json.loads(ws.recv(timeout=60))
        ws.send(json.dumps({"type": "message", "text": f"sono {p['last']}, {p['cf']}", "client_id": "w1"}))
        assert json.loads(ws.recv(timeout=60))["type"] == "ack"
        web_id = _wait(lambda: db.run(web_contact))  # stored while the socket is still open
        upload = httpx.post(
            stack.crm.url + "/channels/web/upload",
            data={"session": session, "client_id": "w2"},
            files={"file": ("documento.png", image("PNG", note=f"{p['first']} {p['cf']}"), "image/png")},
            timeout=60,
        )
        assert upload.status_code == 200, upload.text
    assert c.post(f"/api/v1/contacts/{cid}/merge", json={"source_id": web_id}, headers=op).status_code == 200

    # a request with a note, an istanza with an attachment and a history note, a booking with its form and notice
    ticket = c.post(
        "/api/v1/requests",
        headers=op,
        json={
            "contact_id": cid,
            "kind": "report",
            "subject": f"Segnalazione di {p['last']}",
            "description": f"Contattare {p['email']} o {p['phone']}",
            "conversation_id": conv["id"],
        },
    ).json()
    assert c.post(
        f"/api/v1/requests/{ticket['id']}/notes", headers=op, json={"note": f"richiamata {p['first']} {p['last']}"}
    ).status_code in (200, 201)
    slug = f"erasure-{secrets.token_hex(3)}"
    assert (
        c.post(
            "/api/v1/instance-types",
            headers=admin,
            json={"slug": slug, "title": "Istanza di prova", "form_schema": {"type": "object"}},
        ).status_code
        == 201
    )
    inst = c.post(
        "/api/v1/instances",
        headers=svc,
        json={"type": slug, "contact_id": cid, "data": {"richiedente": f"{p['first']} {p['last']}", "cf": p["cf"]}},
    ).json()
    att = c.post(
        f"/api/v1/instances/{inst['id']}/attachments",
        headers=svc,
        files={"file": (f"documento-{p['last']}.pdf", b"%PDF-1.4\n% " + p["cf"].encode() + b"\n", "application/pdf")},
    )
    assert att.status_code == 201, att.text
    c.post(
        f"/api/v1/instances/{inst['id']}/transition",
        headers=ente.headers("backoffice"),
        json={"to": "in_charge", "note": f"verificato con {p['last']}"},
    )
    # the phone desk logs a request with the caller's document, and the segnalazione's photo from the sportello
    doc = b"%PDF-1.4\n% " + p["cf"].encode() + b" " + p["email"].encode() + b"\n"
    tid = _request_with_files(stack.crm, ente, cid, "Documento", files=[(f"{p['last']}.pdf", doc)])
    _add_report_photo(db, stack.crm, ente, tid, b"\xff\xd8\xff\xe0JFIF " + p["cf"].encode() + b"\xff\xd9")
    loc = c.post("/api/v1/locations", json={"name": "Municipio"}, headers=admin).json()
    res = c.post("/api/v1/resources", json={"name": "Sportello", "location_id": loc["id"]}, headers=admin).json()
    svc_ = c.post(
        "/api/v1/services",
        headers=admin,
        json={
            "slug": f"ci-{secrets.token_hex(3)}",
            "code_prefix": "CI",
            "name": "Carta d'identità",
            "resource_ids": [res["id"]],
            "min_notice_hours": 1,
        },
    ).json()
    c.put(
        f"/api/v1/services/{svc_['id']}/hours",
        headers=admin,
        json={"hours": [{"weekday": d, "start": "08:00", "end": "18:00"} for d in range(7)]},
    )
    from datetime import date, timedelta

    free = c.get(
        f"/api/v1/services/{svc_['id']}/availability",
        headers=svc,
        params={
            "from": (date.today() + timedelta(days=3)).isoformat(),
            "to": (date.today() + timedelta(days=9)).isoformat(),
        },
    ).json()["items"]
    booking = c.post(
        "/api/v1/bookings",
        headers=svc,
        json={
            "service_id": svc_["id"],
            "start": free[0]["start"],
            "contact_id": cid,
            "fields": {"nome": p["first"], "cognome": p["last"], "codice_fiscale": p["cf"]},
        },
    )
    assert booking.status_code == 201, booking.text
    # feedback on an answer and a question the knowledge base could not answer (with the fiscal code in it)
    c.post(
        "/api/v1/kb/feedback",
        headers=svc,
        json={"query": f"pratica di {p['cf']}", "helpful": False, "conversation_id": conv["id"]},
    )

    # before: the data is really there, also in Rasa's tracker
    _, before = _scan_database(database_url, needles)
    assert any(h.startswith("messages") for h in before) and any(h.startswith("tickets") for h in before)
    # the three pictures are stored, with what they show (Telegram's and the MMS's fetched after their webhooks)
    _, files_before = _wait(
        lambda: (lambda f: f if sum("/chat/" in h for h in f[1]) >= 3 else None)(
            _scan_files(Path(stack.crm.env["URP_VAR_DIR"]), needles)
        )
    )
    sms_conv = c.get("/api/v1/conversations", params={"contact_id": cid, "channel": "sms"}, headers=op).json()
    sms_conv_id = sms_conv["items"][0]["id"]

    def tracker(conv_id: int) -> str:
        return httpx.get(f"{stack.rasa_url}/conversations/conv-{conv_id}/tracker", timeout=30).text.lower()

    assert _wait(lambda: p["cf"].lower() in tracker(sms_conv_id)), "Rasa never saw the message"

    # erase
    r = c.post(f"/api/v1/contacts/{cid}/erase", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["anonymised"] and r.json()["phones"] == []
    assert c.post(f"/api/v1/contacts/{cid}/erase", headers=admin).status_code == 409

    # after: nothing, anywhere
    tables, hits = _scan_database(database_url, needles)
    assert not hits, "\n".join(hits)
    var_dir = Path(stack.crm.env["URP_VAR_DIR"])
    files, file_hits = _scan_files(var_dir, needles)
    assert not file_hits, file_hits
    convs = [i["id"] for i in c.get("/api/v1/conversations", params={"contact_id": cid}, headers=op).json()["items"]]
    assert sms_conv_id in convs and conv["id"] in convs
    for conv_id in convs:
        text = tracker(conv_id)
        assert not [n for n in needles if n in text], f"conv-{conv_id} still in Rasa's tracker"
    tracker_store = stack.crm.env["URP_RASA_TRACKER_URL"]
    if not tracker_store.startswith("postgresql"):  # on PostgreSQL the tracker's table was in the scan above
        t_tables, t_hits = _scan_database(tracker_store, needles)
        assert not t_hits, t_hits
        tables += t_tables
    if not database_url.startswith("postgresql"):
        # the files themselves: SQLite keeps a rewritten or deleted row's old bytes in its page unless told to zero
        # them, and old page images in the WAL until it is reset. After the next write on each database (another
        # citizen's message: the CRM stores it, Rasa saves its tracker) neither file holds anything of theirs.
        other = 700_000 + secrets.randbelow(10_000)
        assert tg_update(stack, other, "buongiorno").status_code == 200
        stack.telegram.wait_for(lambda r: r.get("chat_id") == other, timeout=60)
        c.post("/api/v1/contacts", headers=op, json={"first_name": "Altro", "last_name": "Cittadino"})
        raw = [Path(database_url.split("///", 1)[1]), Path(tracker_store.split("///", 1)[1])]
        raw += [f.with_name(f.name + "-wal") for f in raw]
        raw_hits = [
            f"{f.name}: {n}" for f in raw if f.exists() for n in needles if n.encode() in f.read_bytes().lower()
        ]
        assert not raw_hits, raw_hits
        tables += len(raw)
    # the audit trail of the erasure itself holds counts only
    log = c.get("/api/v1/audit", params={"entity": "contact", "entity_id": cid}, headers=admin).json()["items"]
    erase_line = next(e for e in log if e["action"] == "erase")
    assert erase_line["details"]["stores"]["messages"] >= 3 and not [
        n for n in needles if n in json.dumps(erase_line).lower()
    ]
    # every file store (a table with a storage key) held a file of theirs and was walked: a forgotten one is named
    file_stores = _file_stores(database_url)
    assert file_stores >= {"ticket_files", "sp_report_files", "ist_attachments"}
    assert file_stores <= set(erase_line["details"]["stores"]), sorted(
        file_stores - set(erase_line["details"]["stores"])
    )
    assert all(any(f"/attachments/{d}/" in h for h in files_before) for d in ("requests", "reports")), files_before
    stores = tables + 1 + 1  # every table (and on SQLite the database files), the var directory's files, Rasa's API
    report(
        f"erasure scan: {stores} stores checked ({tables} tables incl. Rasa's tracker store, {files} files "
        f"under var/, Rasa's tracker API for {len(convs)} conversations), 0 hits"
    )
    c.close()

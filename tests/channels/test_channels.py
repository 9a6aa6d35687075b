"""Channels end to end: citizen -> hub -> (Rasa -> actions -> CRM) -> reply on the same channel, with the real
twilio and python-telegram-bot clients talking to fake provider servers on 127.0.0.1."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.bot.action_server import LOOPBACK, listening
from tests.channels.conftest import TG_SECRET, TWILIO_FROM, TWILIO_TOKEN, Stack

_n = iter(range(10**9))


def sms(stack: Stack, sender: str, body: str, sid: str | None = None, signature: str | None = None) -> httpx.Response:
    params = {
        "From": sender,
        "To": TWILIO_FROM,
        "Body": body,
        "MessageSid": sid or f"SMin{uuid.uuid4().hex}",
        "AccountSid": "AC" + "1" * 32,
    }
    url = stack.crm.url + "/channels/twilio/sms"
    sig = signature if signature is not None else RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": sig}, timeout=60)


def tg_update(
    stack: Stack,
    user_id: int,
    text: str | None = None,
    *,
    callback: str | None = None,
    contact_phone: str | None = None,
    secret: str | None = TG_SECRET,
    update_id: int | None = None,
) -> httpx.Response:
    uid = update_id if update_id is not None else 10_000 + next(_n)
    user = {"id": user_id, "is_bot": False, "first_name": "Lucia"}
    chat = {"id": user_id, "type": "private"}
    if callback is not None:
        update = {
            "update_id": uid,
            "callback_query": {
                "id": f"cb{uid}",
                "from": user,
                "chat_instance": "x",
                "data": callback,
                "message": {"message_id": 1, "date": 1, "chat": chat},
            },
        }
    elif contact_phone is not None:
        update = {
            "update_id": uid,
            "message": {
                "message_id": uid,
                "date": 1,
                "chat": chat,
                "from": user,
                "contact": {"phone_number": contact_phone, "first_name": "Lucia", "user_id": user_id},
            },
        }
    else:
        update = {"update_id": uid, "message": {"message_id": uid, "date": 1, "chat": chat, "from": user, "text": text}}
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return httpx.post(stack.crm.url + "/channels/telegram/webhook", json=update, headers=headers, timeout=60)


def phone() -> str:
    return f"+39347{next(_n) % 10**7:07d}"


def test_health_reports_channels(stack: Stack) -> None:
    comps = httpx.get(stack.crm.url + "/health").json()["components"]
    assert comps["sms"] == {"status": "ok"} and comps["telegram"] == {"status": "ok"}
    assert comps["email"] == {"status": "off"}


def test_twilio_signature_is_verified(stack: Stack) -> None:
    assert sms(stack, phone(), "ciao", signature="forged").status_code == 403
    assert sms(stack, phone(), "ciao", signature="").status_code == 403
    params_sig = RequestValidator("wrong-token").compute_signature(stack.crm.url + "/channels/twilio/sms", {})
    assert sms(stack, phone(), "ciao", signature=params_sig).status_code == 403


def test_telegram_secret_is_verified(stack: Stack) -> None:
    assert tg_update(stack, 777001, "ciao", secret=None).status_code == 401
    assert tg_update(stack, 777001, "ciao", secret="wrong").status_code == 403


def _conversation_of(stack: Stack, ente, channel: str, contact_q: str) -> dict:  # type: ignore[no-untyped-def]
    with stack.client() as c:
        h = ente.headers("operator")
        contacts = c.get("/api/v1/contacts", params={"q": contact_q}, headers=h).json()["items"]
        assert contacts, f"no contact for {contact_q}"
        convs = c.get(
            "/api/v1/conversations", params={"contact_id": contacts[0]["id"], "channel": channel}, headers=h
        ).json()["items"]
        return c.get(f"/api/v1/conversations/{convs[0]['id']}", headers=h).json()


def test_sms_retry_is_stored_once(stack: Stack) -> None:
    number = phone()
    sid = f"SMretry{uuid.uuid4().hex}"
    assert sms(stack, number, "buongiorno", sid=sid).status_code == 200
    assert sms(stack, number, "buongiorno", sid=sid).status_code == 200
    conv = _conversation_of(stack, stack.ente, "sms", number[3:])
    inbound = [m for m in conv["messages"] if m["direction"] == "in"]
    assert [m["channel_message_id"] for m in inbound] == [sid]


def test_sms_full_path_with_rasa(stack: Stack, needs_rasa) -> None:  # type: ignore[no-untyped-def]
    number = phone()
    assert sms(stack, number, "buongiorno").status_code == 200
    sent = stack.twilio.wait_for(lambda r: r.get("To") == number)
    assert sent and "assistente virtuale" in sent[0]["Body"]
    assert "1. Informazioni su un servizio" in sent[0]["Body"] and "Risponda con il numero" in sent[0]["Body"]
    # a digit answers the numbered options: 3 = "Parlare con un operatore"
    assert sms(stack, number, "3").status_code == 200
    conv = _conversation_of(stack, stack.ente, "sms", number[3:])
    assert conv["mode"] in ("waiting", "closed") or stack.twilio.wait_for(
        lambda r: r.get("To") == number and ("operatore" in r["Body"] or "URP" in r["Body"])
    )


def test_sms_info_answer_from_the_knowledge_base(stack: Stack, needs_rasa) -> None:  # type: ignore[no-untyped-def]
    # the default test ente has no articles: publish one, then ask
    with stack.client() as c:
        r = c.post(
            "/api/v1/kb/articles",
            headers=stack.ente.headers("admin"),
            json={
                "slug": "tari-test",
                "title": "TARI, la tassa sui rifiuti",
                "status": "published",
                "body": "La TARI si paga in due rate, a maggio e a novembre, con l'avviso pagoPA inviato dal Comune.",
                "url": "https://comune.example.it/tari",
            },
        )
        assert r.status_code in (201, 409)
    number = phone()
    sms(stack, number, "quando si paga la tassa sui rifiuti?")
    sent = stack.twilio.wait_for(lambda r: r.get("To") == number and "TARI" in r.get("Body", ""))
    assert sent, stack.twilio.requests[-3:]
    assert "https://comune.example.it/tari" in sent[0]["Body"]


def test_stop_opts_out_and_is_respected(stack: Stack) -> None:
    number = phone()
    assert sms(stack, number, "STOP").status_code == 200
    confirmation = stack.twilio.wait_for(lambda r: r.get("To") == number)
    assert len(confirmation) == 1 and "non ricevere più messaggi" in confirmation[0]["Body"]
    with stack.client() as c:
        contact = c.get("/api/v1/contacts", params={"q": number[3:]}, headers=stack.ente.headers("operator")).json()
        cid = contact["items"][0]["id"]
        assert contact["items"][0]["consent_notifications"] is False
        # the opt-out went through the contacts' command: in the audit log, by the channel
        log = c.get(
            "/api/v1/audit", params={"entity": "contact", "entity_id": cid}, headers=stack.ente.headers("admin")
        ).json()["items"]
        assert [(e["action"], e["actor_name"], e["details"]) for e in log if e["action"] == "opt_out"] == [
            ("opt_out", "channel:sms", {"channel": "sms"})
        ]
        # an operator reply on this SMS conversation is refused by the hub, not sent
        conv = c.get("/api/v1/conversations", params={"contact_id": cid}, headers=stack.ente.headers("operator")).json()
        conv_id = conv["items"][0]["id"]
        c.post(f"/api/v1/conversations/{conv_id}/handoff", json={}, headers=stack.ente.headers("operator"))
        c.post(f"/api/v1/conversations/{conv_id}/take", headers=stack.ente.headers("operator"))
        r = c.post(
            f"/api/v1/conversations/{conv_id}/messages",
            json={"text": "Buongiorno!"},
            headers=stack.ente.headers("operator"),
        )
        assert r.status_code == 201
        time.sleep(1)
        full = c.get(f"/api/v1/conversations/{conv_id}", headers=stack.ente.headers("operator")).json()
        last = full["messages"][-1]
        assert last["delivery_status"] == "failed"
    assert len(stack.twilio.wait_for(lambda r: r.get("To") == number, timeout=1)) == 1


def test_telegram_update_is_idempotent_and_answered(stack: Stack, needs_rasa) -> None:  # type: ignore[no-untyped-def]
    user = 900_000 + next(_n)
    assert tg_update(stack, user, "ciao", update_id=555_000 + user % 1000).status_code == 200
    assert tg_update(stack, user, "ciao", update_id=555_000 + user % 1000).status_code == 200
    sent = stack.telegram.wait_for(lambda r: r["chat_id"] == user)
    assert len(sent) == 1
    keyboard = sent[0]["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in keyboard][:1] == ["Informazioni su un servizio"]
    # pressing an inline button sends its payload back
    tg_update(stack, user, callback="/bot_challenge")
    assert stack.telegram.wait_for(
        lambda r: r["chat_id"] == user and "assistente virtuale" in (r["text"] or "") and "non una persona" in r["text"]
    )


def test_handoff_and_operator_reply_on_telegram(stack: Stack) -> None:
    user = 910_000 + next(_n)
    tg_update(stack, user, "vorrei parlare con un operatore")
    with stack.client() as c:
        h = stack.ente.headers("operator")
        deadline = time.monotonic() + 60
        conv = None
        while time.monotonic() < deadline:
            items = c.get("/api/v1/conversations", params={"mode": "waiting", "channel": "telegram"}, headers=h).json()[
                "items"
            ]
            conv = next(
                (
                    i
                    for i in items
                    if c.get(f"/api/v1/contacts/{i['contact_id']}", headers=h).json()["identities"]
                    == [{"channel": "telegram", "external_id": str(user)}]
                ),
                None,
            )
            if conv:
                break
            time.sleep(0.5)
        assert conv is not None, "the conversation never reached the operators' queue"
        assert c.post(f"/api/v1/conversations/{conv['id']}/take", headers=h).status_code == 200
        r = c.post(
            f"/api/v1/conversations/{conv['id']}/messages", json={"text": "Salve, sono Giulia dell'URP."}, headers=h
        )
        assert r.status_code == 201
    assert stack.telegram.wait_for(
        lambda r: r["chat_id"] == user and (r["text"] or "").endswith("Salve, sono Giulia dell'URP.")
    )
    assert stack.telegram.wait_for(lambda r: r["chat_id"] == user and "ha preso in carico" in (r["text"] or ""))
    # while the operator holds the conversation, the citizen's messages reach the operator, not the bot
    before = len(stack.telegram.requests)
    tg_update(stack, user, "grazie, la mia domanda è sulla TARI")
    time.sleep(1.5)
    assert not [r for r in stack.telegram.requests[before:] if r["chat_id"] == user]


def test_shared_phone_links_existing_contact(stack: Stack) -> None:
    number = phone()
    with stack.client() as c:
        known = c.post(
            "/api/v1/contacts",
            json={"first_name": "Lucia", "last_name": "Verdi", "phones": [number]},
            headers=stack.ente.headers("operator"),
        ).json()
    user = 920_000 + next(_n)
    tg_update(stack, user, "ciao")
    tg_update(stack, user, contact_phone=number)
    with stack.client() as c:
        got = c.get(f"/api/v1/contacts/{known['id']}", headers=stack.ente.headers("operator")).json()
        log = c.get(
            "/api/v1/audit", params={"entity": "contact", "entity_id": known["id"]}, headers=stack.ente.headers("admin")
        ).json()["items"]
    assert {"channel": "telegram", "external_id": str(user)} in got["identities"]
    linked = [e for e in log if e["action"] == "link_identity"]
    assert len(linked) == 1 and linked[0]["actor_name"] == "channel:telegram"
    assert linked[0]["details"]["outcome"] == "merged"  # the throw-away contact of "ciao" was folded in


def test_failed_send_is_retried_once_and_visible(stack: Stack) -> None:
    user = 930_000 + next(_n)
    tg_update(stack, user, "operatore per favore")
    # the webhook answers once the message is stored: the bot's answer (or the holding message) follows
    assert stack.telegram.wait_for(lambda r: r["chat_id"] == user, timeout=60)
    with stack.client() as c:
        h = stack.ente.headers("operator")
        convs = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not convs:
            contacts = c.get("/api/v1/contacts", params={"q": "Lucia"}, headers=h).json()["items"]
            ids = [x["id"] for x in contacts if {"channel": "telegram", "external_id": str(user)} in x["identities"]]
            if ids:
                convs = c.get("/api/v1/conversations", params={"contact_id": ids[0]}, headers=h).json()["items"]
            time.sleep(0.3)
        conv_id = convs[0]["id"]
        c.post(f"/api/v1/conversations/{conv_id}/handoff", json={}, headers=h)
        c.post(f"/api/v1/conversations/{conv_id}/take", headers=h)
        # the "operator has taken it" notice goes out first: the failure is meant for the reply
        assert stack.telegram.wait_for(lambda r: r["chat_id"] == user and "ha preso in carico" in (r["text"] or ""))
        stack.telegram.fail_next = 1
        c.post(f"/api/v1/conversations/{conv_id}/messages", json={"text": "Risposta dopo un guasto"}, headers=h)
        time.sleep(0.5)
        msgs = c.get(f"/api/v1/conversations/{conv_id}", headers=h).json()["messages"]
        assert msgs[-1]["delivery_status"] == "failed"  # visible to operators
    from sqlalchemy import update

    from crm.conversations.models import Message

    async def due(s):  # type: ignore[no-untyped-def]
        from datetime import timedelta

        from crm.db import utcnow

        await s.execute(
            update(Message).where(Message.id == msgs[-1]["id"]).values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )

    from tests.conftest import DB

    DB(stack.crm.env["URP_DATABASE_URL"]).run(due)
    got = stack.telegram.wait_for(
        lambda r: r["chat_id"] == user and (r["text"] or "").endswith("Risposta dopo un guasto")
    )
    assert len(got) == 1
    time.sleep(2)
    assert (
        len(
            [
                r
                for r in stack.telegram.requests
                if r["chat_id"] == user and (r["text"] or "").endswith("Risposta dopo un guasto")
            ]
        )
        == 1
    )


def test_web_chat_round_trip_and_history(stack: Stack, needs_rasa) -> None:  # type: ignore[no-untyped-def]
    from websockets.sync.client import connect

    ws_url = stack.crm.url.replace("http", "ws") + "/channels/web/ws"
    session = str(uuid.uuid4())
    with connect(ws_url, open_timeout=60) as ws:
        ws.send(json.dumps({"type": "hello", "session": session}))
        hist = json.loads(ws.recv(timeout=60))
        assert hist == {"type": "history", "session": session, "messages": [], "max_file": 1_500_000}
        ws.send(json.dumps({"type": "message", "text": "sei un bot?", "client_id": "c1"}))
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(e.get("type") == "message" for e in seen):
            seen.append(json.loads(ws.recv(timeout=60)))
        kinds = [e["type"] for e in seen]
        # acknowledged once stored (with the stored id), the typing hint while Rasa thinks, then the reply
        assert "ack" in kinds and "typing" in kinds and kinds[-1] == "message", kinds
        ack = next(e for e in seen if e["type"] == "ack")
        assert ack["client_id"] == "c1" and isinstance(ack["id"], int)
        reply = next(e for e in seen if e["type"] == "message")
        assert "assistente virtuale" in reply["text"] and reply["id"] > ack["id"]
    with connect(ws_url, open_timeout=60) as ws:  # reconnect: the history comes back
        ws.send(json.dumps({"type": "hello", "session": session}))
        hist = json.loads(ws.recv(timeout=60))
        assert [m["author"] for m in hist["messages"]] == ["citizen", "bot"]
        assert hist["messages"][0]["text"] == "sei un bot?"
        # ids let the widget show each message once; the citizen's own carry the client id it was sent with
        assert [m["id"] for m in hist["messages"]] == [ack["id"], reply["id"]]
        assert hist["messages"][0]["client_id"] == "c1"


def test_widget_and_demo_page(stack: Stack) -> None:
    page = httpx.get(stack.crm.url + "/")
    assert page.status_code == 200 and 'lang="it"' in page.text and "/widget.js" in page.text
    js = httpx.get(stack.crm.url + "/widget.js")
    assert js.status_code == 200 and "WebSocket" in js.text and "innerHTML" not in js.text


def _bookings_of(stack: Stack, service_id: int) -> list[dict]:  # type: ignore[type-arg]
    with stack.client() as c:
        return c.get("/api/v1/bookings", params={"service_id": service_id}, headers=stack.ente.headers("admin")).json()[
            "items"
        ]


def _bot_said(stack: Stack, number: str, needle: str, timeout: float = 60) -> list[dict]:  # type: ignore[type-arg]
    return stack.twilio.wait_for(lambda r: r.get("To") == number and needle in r.get("Body", ""), timeout=timeout)


def test_booking_by_sms_with_numbered_slots(stack: Stack, needs_rasa) -> None:  # type: ignore[no-untyped-def]
    h = stack.ente.headers("admin")
    with stack.client() as c:
        loc = c.post("/api/v1/locations", json={"name": "Municipio"}, headers=h).json()
        res = c.post("/api/v1/resources", json={"name": "Sportello 1", "location_id": loc["id"]}, headers=h).json()
        svc = c.post(
            "/api/v1/services",
            headers=h,
            json={
                "slug": f"carta-identita-{next(_n)}",
                "code_prefix": "AN",
                "name": "Rilascio carta d'identità",
                "kind": "multi_resource",
                "slot_minutes": 20,
                "resource_ids": [res["id"]],
                "min_notice_hours": 1,
                "what_to_bring": "una fototessera",
            },
        ).json()
        c.put(
            f"/api/v1/services/{svc['id']}/hours",
            headers=h,
            json={"hours": [{"weekday": d, "start": "09:00", "end": "12:00"} for d in range(7)]},
        )
    number = phone()
    sms(stack, number, "vorrei prenotare un appuntamento per la carta d'identità")
    offer = _bot_said(stack, number, "Quale preferisce") or _bot_said(stack, number, "Per quale servizio")
    assert offer, stack.twilio.requests[-3:]
    if "Per quale servizio" in offer[0]["Body"]:
        lines = [ln for ln in offer[0]["Body"].splitlines() if "carta d'identità" in ln]
        sms(stack, number, lines[0].split(".")[0])
        offer = _bot_said(stack, number, "Quale preferisce")
    time.sleep(1)  # long replies arrive in several SMS parts
    parts = [r["Body"] for r in stack.twilio.requests if r.get("To") == number]
    text = "\n".join(parts[parts.index(offer[0]["Body"]) :])
    first_option = next(ln for ln in text.splitlines() if ln.startswith("1. "))
    sms(stack, number, "1")
    assert _bot_said(stack, number, "nome e cognome")
    sms(stack, number, "Maria Rossi")
    summary = _bot_said(stack, number, "Confermo?")
    assert summary and "Maria Rossi" in summary[0]["Body"] and first_option[3:] in summary[0]["Body"]
    assert not [b for b in _bookings_of(stack, svc["id"]) if b["status"] == "confirmed"]  # nothing before the yes
    sms(stack, number, "1")  # "1. Sì, prenota"
    done = _bot_said(stack, number, "Appuntamento confermato")
    assert done, stack.twilio.requests[-3:]
    code = re.search(r"AN-[A-Z0-9]{5}", done[0]["Body"]).group(0)
    assert "fototessera" in done[0]["Body"] and first_option[3:] in done[0]["Body"]
    with stack.client() as c:
        booked = c.get("/api/v1/bookings", params={"service_id": svc["id"]}, headers=h).json()["items"]
    assert [b["code"] for b in booked] == [code] and booked[0]["fields"] == {
        "first_name": "Maria",
        "last_name": "Rossi",
    }
    assert booked[0]["booked_by_kind"] == "bot" and booked[0]["channel"] == "sms"


def test_istanza_by_telegram(stack: Stack, needs_rasa) -> None:  # type: ignore[no-untyped-def]
    with stack.client() as c:
        c.post(
            "/api/v1/instance-types",
            headers=stack.ente.headers("admin"),
            json={
                "slug": "istanza-generica",
                "title": "Istanza generica",
                "form_schema": {
                    "type": "object",
                    "required": ["subject", "description"],
                    "properties": {"subject": {"type": "string"}, "description": {"type": "string"}},
                },
            },
        )
    user = 940_000 + next(_n)
    tg_update(stack, user, "vorrei presentare un'istanza al comune")
    assert stack.telegram.wait_for(lambda r: r["chat_id"] == user and "oggetto" in (r["text"] or ""))
    tg_update(stack, user, "Copia della delibera sul verde")
    assert stack.telegram.wait_for(lambda r: r["chat_id"] == user and "dettagli" in (r["text"] or ""))
    tg_update(stack, user, "Chiedo copia della delibera di giunta sulla manutenzione dei giardini di via Po.")
    done = stack.telegram.wait_for(lambda r: r["chat_id"] == user and "protocollo" in (r["text"] or ""))
    assert done and re.search(r"IS-[A-Z0-9]{6}", done[0]["text"]) and re.search(r"\d{4}/\d{6}", done[0]["text"])


def test_long_sms_replies_are_split_on_boundaries() -> None:
    from channels.twilio_sms import split_text

    text = ("La carta d'identità elettronica si richiede su appuntamento. " * 12) + "\n1. Sì\n2. No"
    parts = split_text(text)
    assert len(parts) > 1 and all(len(p) <= 300 for p in parts)
    assert all(p.endswith(".") for p in parts[:-1])  # cut after a sentence, not inside a word
    assert parts[-1].endswith("1. Sì\n2. No")
    assert "".join(parts).replace("\n", " ").replace(" ", "") == text.replace("\n", " ").replace(" ", "")


def test_polling_mode_forwards_to_the_webhook(stack: Stack) -> None:
    import os
    import subprocess
    import sys

    from tests.channels.conftest import TG_TOKEN
    from tests.conftest import ROOT

    user = 950_000 + next(_n)
    stack.telegram.pending_updates = [
        {
            "update_id": 7_000_000 + user % 1000,
            "message": {
                "message_id": 1,
                "date": 1,
                "chat": {"id": user, "type": "private"},
                "from": {"id": user, "is_bot": False, "first_name": "Pia"},
                "text": "buongiorno",
            },
        }
    ]
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TG_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
        "TELEGRAM_API_BASE": stack.telegram.url + "/bot",
        "URP_PUBLIC_URL": stack.crm.url,
    }
    out = subprocess.run(
        [sys.executable, "-m", "crm.cli", "telegram", "poll", "--once"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "forwarded 1 updates" in out.stdout, out.stderr
    with stack.client() as c:
        found = c.get("/api/v1/contacts", params={"q": "Pia"}, headers=stack.ente.headers("operator")).json()["items"]
    assert any({"channel": "telegram", "external_id": str(user)} in x["identities"] for x in found)


def _said(stack: Stack, user: int, needle: str, timeout: float = 60, count: int = 1) -> list[dict]:  # type: ignore[type-arg]
    """What the bot said to this chat containing ``needle``, once it has said it ``count`` times (the webhook
    answers once the message is stored; the reply follows)."""
    return stack.telegram.wait_for(
        lambda r: r["chat_id"] == user and needle in (r["text"] or ""), timeout=timeout, count=count
    )


def test_istanza_status_needs_a_second_factor_unless_asked_by_its_owner(stack: Stack, needs_rasa) -> None:  # type: ignore[no-untyped-def]
    h = stack.ente.headers("admin")
    with stack.client() as c:
        c.post(
            "/api/v1/instance-types",
            headers=h,
            json={
                "slug": "istanza-generica",
                "title": "Istanza generica",
                "form_schema": {
                    "type": "object",
                    "required": ["subject", "description"],
                    "properties": {"subject": {"type": "string"}, "description": {"type": "string"}},
                },
            },
        )
        cid = c.post("/api/v1/contacts", headers=h, json={"first_name": "Olga", "phones": ["+39 347 555 9876"]}).json()[
            "id"
        ]
        inst = c.post(
            "/api/v1/instances",
            headers=stack.ente.headers("operator"),
            json={
                "type": "istanza-generica",
                "contact_id": cid,
                "channel": "phone",
                "data": {"subject": "Copia delibera", "description": "Chiedo copia della delibera 12/2026."},
            },
        ).json()
    # someone else's channel: the code alone is not enough
    stranger = 950_000 + next(_n)
    tg_update(stack, stranger, f"a che punto è la mia pratica {inst['code']}?")
    assert _said(stack, stranger, "ultime 4 cifre"), stack.telegram.requests[-3:]
    tg_update(stack, stranger, "1111")
    assert _said(stack, stranger, "Non trovo un'istanza")
    # the owner's data: the status, the protocol number and the deadline
    tg_update(stack, stranger, f"stato della pratica {inst['code']}")
    assert len(_said(stack, stranger, "ultime 4 cifre", count=2)) == 2
    tg_update(stack, stranger, "9876")
    answer = _said(stack, stranger, f"L'istanza {inst['code']}")
    assert answer and "registrata al protocollo" in answer[0]["text"] and inst["protocol_number"] in answer[0]["text"]
    # the citizen who submitted it through the bot is recognised by the channel: no second factor asked
    owner = 960_000 + next(_n)
    tg_update(stack, owner, "vorrei presentare un'istanza al comune")
    assert _said(stack, owner, "oggetto")
    tg_update(stack, owner, "Rimborso TARI 2025")
    assert _said(stack, owner, "dettagli")
    tg_update(stack, owner, "Ho pagato due volte la seconda rata della TARI 2025 e chiedo il rimborso.")
    done = _said(stack, owner, "protocollo")
    code = re.search(r"IS-[A-Z0-9]{6}", done[0]["text"]).group(0)
    tg_update(stack, owner, f"com'è messa la mia istanza {code}?")
    mine = _said(stack, owner, f"L'istanza {code}")
    assert mine, stack.telegram.requests[-3:]
    assert not _said(stack, owner, "ultime 4 cifre", timeout=1)


def test_booking_asks_and_checks_the_fiscal_code_the_service_requires(stack: Stack, needs_rasa) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import fresh_cf

    cf = fresh_cf()  # the stack's comune is shared: the phone intake registers its own code
    h = stack.ente.headers("admin")
    with stack.client() as c:
        loc = c.post("/api/v1/locations", json={"name": "Sede servizi sociali"}, headers=h).json()
        res = [
            c.post(
                "/api/v1/resources", json={"name": f"Assistente sociale {n}", "location_id": loc["id"]}, headers=h
            ).json()["id"]
            for n in ("Bianchi", "Gallo")
        ]
        svc = c.post(
            "/api/v1/services",
            headers=h,
            json={
                "slug": f"colloquio-sociale-{next(_n)}",
                "code_prefix": "SS",
                "name": "Colloquio con l'assistente sociale",
                "kind": "resource",
                "slot_minutes": 45,
                "resource_ids": res,
                "min_notice_hours": 1,
                "form_schema": {
                    "type": "object",
                    "required": ["first_name", "last_name", "fiscal_code"],
                    "properties": {
                        "first_name": {"type": "string"},
                        "last_name": {"type": "string"},
                        "fiscal_code": {"type": "string", "pattern": "^[A-Z0-9]{16}$"},
                    },
                },
            },
        ).json()
        c.put(
            f"/api/v1/services/{svc['id']}/hours",
            headers=h,
            json={"hours": [{"weekday": d, "start": "09:00", "end": "12:00"} for d in range(7)]},
        )
    user = 970_000 + next(_n)
    tg_update(stack, user, "vorrei prenotare un colloquio con l'assistente sociale")
    asked = stack.telegram.wait_for(
        lambda r: r["chat_id"] == user and any(k in (r["text"] or "") for k in ("Quale preferisce", "servizio")),
        timeout=60,
    )
    assert asked, stack.telegram.requests[-3:]
    if "Quale preferisce" not in asked[0]["text"]:  # several services match: pick ours
        choice = next(
            b for row in asked[0]["reply_markup"]["inline_keyboard"] for b in row if b["callback_data"] == svc["slug"]
        )
        tg_update(stack, user, callback=choice["callback_data"])
    offer = _said(stack, user, "Quale preferisce")
    assert offer, [r["text"] for r in stack.telegram.requests if r["chat_id"] == user]
    first_button = offer[0]["reply_markup"]["inline_keyboard"][0][0]
    tg_update(stack, user, callback=first_button["callback_data"])
    assert _said(stack, user, "nome e cognome")
    tg_update(stack, user, "Paolo Verdi")
    assert _said(stack, user, "codice fiscale della persona")
    tg_update(stack, user, "RSSMRA80A01H501X")  # wrong check character
    assert _said(stack, user, "non risulta valido")
    tg_update(stack, user, cf.lower())
    summary = _said(stack, user, "Riepilogo della prenotazione")
    assert summary and f"codice fiscale: {cf}" in summary[0]["text"], stack.telegram.requests[-3:]
    tg_update(stack, user, callback=_buttons(summary[0])["Sì, prenota"])
    done = _said(stack, user, "Appuntamento confermato")
    assert done, stack.telegram.requests[-3:]
    with stack.client() as c:
        booked = c.get("/api/v1/bookings", params={"service_id": svc["id"]}, headers=h).json()["items"]
    assert len(booked) == 1 and booked[0]["fields"]["fiscal_code"] == cf
    assert booked[0]["resource_id"] in res and booked[0]["channel"] == "telegram"


def test_report_keeps_the_whole_address_and_replies_reach_every_chat(stack: Stack, needs_rasa) -> None:  # type: ignore[no-untyped-def]
    # two citizens at once: Telegram numbers messages per chat, so both chats get reply number 1, 2...
    users = [980_000 + next(_n), 980_000 + next(_n)]
    for u in users:
        tg_update(stack, u, "vorrei fare una segnalazione")
    for u in users:
        assert _said(stack, u, "Mi descriva il problema"), [
            r["text"] for r in stack.telegram.requests if r["chat_id"] == u
        ]
    for u in users:
        tg_update(stack, u, "lampione spento da una settimana")
    for u in users:
        assert _said(stack, u, "Dove si trova"), [r["text"] for r in stack.telegram.requests if r["chat_id"] == u]
    for u in users:
        tg_update(stack, u, "via Mazzini 23")
    for u in users:
        done = _said(stack, u, "segnalazione è registrata")
        assert done, [r["text"] for r in stack.telegram.requests if r["chat_id"] == u]
    with stack.client() as c:
        reqs = c.get(
            "/api/v1/requests", params={"kind": "report", "q": "lampione"}, headers=stack.ente.headers("operator")
        ).json()["items"]
        assert sum(1 for r in reqs if "via Mazzini 23" in (r.get("description") or "")) >= 2, reqs
    # every bot reply was stored as sent, none left pending to be sent again
    from sqlalchemy import select

    from crm.contacts.models import ContactIdentity
    from crm.conversations.models import Conversation, Message
    from tests.conftest import DB

    async def unsent(s):  # type: ignore[no-untyped-def]
        contacts = select(ContactIdentity.contact_id).where(
            ContactIdentity.channel == "telegram", ContactIdentity.external_id.in_([str(u) for u in users])
        )
        rows = (
            await s.execute(
                select(Message.delivery_status)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Conversation.contact_id.in_(contacts), Message.direction == "out")
            )
        ).all()
        return len(rows), [st for (st,) in rows if st != "sent"]

    total, not_sent = DB(stack.crm.env["URP_DATABASE_URL"]).run(unsent)
    assert total >= 4 and not_sent == []


def test_asking_for_an_operator_leaves_the_form(stack: Stack, needs_rasa) -> None:  # type: ignore[no-untyped-def]
    user = 990_000 + next(_n)
    tg_update(stack, user, "vorrei fare una segnalazione")
    assert _said(stack, user, "Mi descriva il problema")
    tg_update(stack, user, "voglio parlare con un operatore")
    handed = stack.telegram.wait_for(
        lambda r: r["chat_id"] == user and any(k in (r["text"] or "") for k in ("operatore dell'URP", "richiamata")),
        timeout=60,
    )
    assert handed, [r["text"] for r in stack.telegram.requests if r["chat_id"] == user]
    with stack.client() as c:
        reqs = c.get(
            "/api/v1/requests", params={"kind": "report", "q": "operatore"}, headers=stack.ente.headers("operator")
        ).json()["items"]
    assert not [r for r in reqs if "voglio parlare" in (r.get("subject") or "")]  # not taken as the description


def _buttons(reply: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {
        b["text"]: b["callback_data"]
        for row in (reply.get("reply_markup") or {}).get("inline_keyboard", [])
        for b in row
    }


def test_cancel_a_booking_from_the_own_channel_or_by_code_and_second_factor(stack: Stack, needs_rasa) -> None:  # type: ignore[no-untyped-def]
    h = stack.ente.headers("admin")
    number = phone()
    with stack.client() as c:
        loc = c.post("/api/v1/locations", json={"name": "Ufficio tributi"}, headers=h).json()
        res = c.post("/api/v1/resources", json={"name": "Sportello TARI", "location_id": loc["id"]}, headers=h).json()
        svc = c.post(
            "/api/v1/services",
            headers=h,
            json={
                "slug": f"tributi-{next(_n)}",
                "code_prefix": "TR",
                "name": "Ricevimento Ufficio Tributi",
                "kind": "multi_resource",
                "slot_minutes": 30,
                "resource_ids": [res["id"]],
                "min_notice_hours": 1,
                "cancel_deadline_hours": 24,
                "max_per_day_per_citizen": 1,
            },
        ).json()
        c.put(
            f"/api/v1/services/{svc['id']}/hours",
            headers=h,
            json={"hours": [{"weekday": d, "start": "09:00", "end": "12:00"} for d in range(7)]},
        )
        cid = c.post("/api/v1/contacts", headers=h, json={"first_name": "Olga", "phones": [number]}).json()["id"]
        today = datetime.now(ZoneInfo("Europe/Rome")).date()
        free = c.get(
            f"/api/v1/services/{svc['id']}/availability",
            headers=h,
            params={"from": (today + timedelta(days=3)).isoformat(), "to": (today + timedelta(days=9)).isoformat()},
        ).json()
        days = sorted({s["start"][:10]: s["start"] for s in free["items"]}.values())

        def book(start: str) -> dict:  # type: ignore[type-arg]
            # booked by a phone operator: the citizen's Telegram account knows nothing of it
            r = c.post(
                "/api/v1/bookings",
                headers=stack.ente.headers("phone_operator"),
                json={
                    "service_id": svc["id"],
                    "start": start,
                    "contact_id": cid,
                    "on_behalf": True,
                    "channel": "phone",
                },
            )
            assert r.status_code == 201, r.text
            return r.json()

        def status_of(b: dict) -> str:  # type: ignore[type-arg]
            return c.get(f"/api/v1/bookings/{b['id']}", headers=h).json()["status"]

        # 1. from the citizen's own channel (Telegram linked by the shared phone number): no code, no second factor
        first = book(days[0])
        owner = 1_010_000 + next(_n)
        tg_update(stack, owner, contact_phone=number)
        tg_update(stack, owner, "devo disdire il mio appuntamento")
        ask = _said(stack, owner, f"Vuole annullare l'appuntamento {first['code']}")
        assert ask and "Ricevimento Ufficio Tributi" in ask[0]["text"], stack.telegram.requests[-3:]
        assert not _said(stack, owner, "ultime 4 cifre", timeout=1)
        tg_update(stack, owner, callback=_buttons(ask[0])["Sì, annulla"])
        assert _said(stack, owner, "è stato annullato"), stack.telegram.requests[-3:]
        assert status_of(first) == "cancelled"
        conv = _conversation_of(stack, stack.ente, "telegram", number)
        assert "Sì, annulla" in [m["text"] for m in conv["messages"] if m["direction"] == "in"]  # not "/affirm"

        # 2. from someone else's chat: the code alone is not enough; a wrong factor ends the attempt
        second = book(days[1])
        stranger = 1_020_000 + next(_n)
        tg_update(stack, stranger, f"vorrei annullare la prenotazione {second['code']}")
        assert _said(stack, stranger, "ultime 4 cifre"), stack.telegram.requests[-3:]
        tg_update(stack, stranger, "1111")
        assert _said(stack, stranger, "Non trovo un appuntamento")
        assert status_of(second) == "confirmed"
        # the right factor, then "no": nothing is cancelled
        tg_update(stack, stranger, f"annulla l'appuntamento {second['code']}")
        assert len(_said(stack, stranger, "ultime 4 cifre", count=2)) == 2
        tg_update(stack, stranger, number[-4:])
        ask = _said(stack, stranger, f"Vuole annullare l'appuntamento {second['code']}")
        assert ask, stack.telegram.requests[-3:]
        tg_update(stack, stranger, callback=_buttons(ask[0])["No, lo mantengo"])
        assert _said(stack, stranger, "resta confermato")
        assert status_of(second) == "confirmed"
        # the status of a booking code is answered too (it used to be "non trovo una pratica")
        tg_update(stack, stranger, f"a che punto è la pratica {second['code']}?")
        assert len(_said(stack, stranger, "ultime 4 cifre", count=3)) == 3
        tg_update(stack, stranger, number[-4:])
        state = _said(stack, stranger, f"L'appuntamento {second['code']}")
        assert state and "è confermato" in state[0]["text"], stack.telegram.requests[-3:]
        # and now yes
        tg_update(stack, stranger, f"disdici {second['code']}")
        assert len(_said(stack, stranger, "ultime 4 cifre", count=4)) == 4
        tg_update(stack, stranger, number[-4:])
        ask = _said(stack, stranger, f"Vuole annullare l'appuntamento {second['code']}", count=2)
        assert len(ask) == 2
        tg_update(stack, stranger, "sì")
        assert _said(stack, stranger, "è stato annullato"), stack.telegram.requests[-3:]
        assert status_of(second) == "cancelled"
        audit = c.get("/api/v1/audit", params={"entity": "booking", "entity_id": second["id"]}, headers=h).json()
        assert sorted({a["action"] for a in audit["items"]}) == ["cancel", "create", "lookup"]


def test_questions_the_nlu_misreads_still_reach_the_knowledge_base(stack: Stack, needs_rasa) -> None:  # type: ignore[no-untyped-def]
    """The intent classifier reads «quanto tempo ci vuole per avere la cie» as chit-chat and a question starting with
    «mio nonno non è più…» as a "no": the knowledge base gets the last word, and real chit-chat is still declined."""
    with stack.client() as c:
        for slug, title, body in (
            (
                "cie-tempi-test",
                "Carta d'identità elettronica: tempi di consegna",
                "La carta d'identità elettronica arriva per posta entro 6 giorni lavorativi dalla richiesta.",
            ),
            (
                "assistenza-domiciliare-test",
                "Assistenza domiciliare per anziani",
                "Il Comune offre assistenza domiciliare agli anziani non autosufficienti: aiuto a casa per l'igiene, "
                "i pasti e le commissioni. La domanda si presenta ai servizi sociali.",
            ),
        ):
            r = c.post(
                "/api/v1/kb/articles",
                headers=stack.ente.headers("admin"),
                json={
                    "slug": slug,
                    "title": title,
                    "status": "published",
                    "body": body,
                    "url": f"https://comune.example.it/{slug}",
                },
            )
            assert r.status_code in (201, 409), r.text
    user = 1_030_000 + next(_n)
    tg_update(stack, user, "quanto tempo ci vuole per avere la cie")
    assert _said(stack, user, "tempi di consegna"), [r["text"] for r in stack.telegram.requests if r["chat_id"] == user]
    tg_update(stack, user, "mio nonno non è più autosufficiente, ci sono aiuti a casa?")
    assert _said(stack, user, "Assistenza domiciliare"), [
        r["text"] for r in stack.telegram.requests if r["chat_id"] == user
    ]
    tg_update(stack, user, "chi ha vinto il campionato di calcio?")
    assert _said(stack, user, "su questo non posso aiutarla")


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc/net/tcp")
def test_rasa_listens_on_loopback_only(stack: Stack, needs_rasa) -> None:  # type: ignore[no-untyped-def]
    # its HTTP API reads and rewrites every conversation (issue 18): scripts/rasa_run.sh binds 127.0.0.1 by default
    addresses = listening(int(str(stack.rasa_url).rsplit(":", 1)[1]))
    assert addresses and addresses <= LOOPBACK, addresses

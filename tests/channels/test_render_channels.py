"""Formatting per channel, end to end: an operator's Markdown reply and a knowledge-base answer leave through the hub
to the real python-telegram-bot and twilio clients (fake Bot API and Twilio on 127.0.0.1; the fake Bot API reads the
HTML parse mode by Telegram's rules and refuses what Telegram would) and to the web chat's socket."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from channels import render
from tests.channels.conftest import Stack
from tests.channels.test_channels import phone, sms, tg_update

_n = iter(range(10**6))

REPLY = (
    "**Carta d'identità elettronica**\n"
    "Si richiede all'Ufficio anagrafe *su appuntamento*; per i minori serve l'assenso di entrambi i genitori. "
    "Costa 22,21 € (più 5,16 € in caso di smarrimento o deterioramento del documento precedente). "
    "La carta arriva per posta entro sei giorni lavorativi all'indirizzo indicato al momento della richiesta.\n\n"
    "Porti con sé:\n\n- una fototessera recente\n- il documento scaduto\n\n"
    "Se 1 < 2 & 3 > 2, prenoti qui: [agenda](https://comune.example.it/agenda?s=cie&t=1)\n"
    "Approfondisca qui: https://comune.example.it/cie"
)


def _operator_replies(stack: Stack, channel: str, external_id: str, text: str) -> None:
    """The citizen asked for a person: once the conversation waits, an operator takes it and writes ``text``."""
    with stack.client() as c:
        h = stack.ente.headers("operator")
        deadline = time.monotonic() + 90
        conv = None
        while time.monotonic() < deadline and conv is None:
            items = c.get("/api/v1/conversations", params={"mode": "waiting", "channel": channel}, headers=h).json()[
                "items"
            ]
            conv = next(
                (
                    i
                    for i in items
                    if {"channel": channel, "external_id": external_id}
                    in c.get(f"/api/v1/contacts/{i['contact_id']}", headers=h).json()["identities"]
                ),
                None,
            )
            if conv is None:
                time.sleep(0.5)
        assert conv is not None, "the conversation never reached the operators' queue"
        assert c.post(f"/api/v1/conversations/{conv['id']}/take", headers=h).status_code == 200
        r = c.post(f"/api/v1/conversations/{conv['id']}/messages", json={"text": text}, headers=h)
        assert r.status_code == 201, r.text


def test_operator_markdown_on_telegram_uses_the_html_parse_mode(stack: Stack) -> None:
    user = 930_000 + next(_n)
    tg_update(stack, user, "vorrei parlare con un operatore")
    _operator_replies(stack, "telegram", str(user), REPLY)
    got = stack.telegram.wait_for(
        lambda r: (
            r["chat_id"] == user and "identità" in (r.get("shown") or "") or r["chat_id"] == user and r.get("refused")
        ),
        timeout=60,
    )
    assert got and not got[0].get("refused"), got
    sent = got[0]
    assert sent["parse_mode"] == "HTML"
    # on Telegram the operator's name comes first, in words (hub.Outgoing.text_for)
    assert sent["text"].split(" dell'URP: ", 1)[1].startswith("<b>Carta d'identità elettronica</b>\nSi richiede")
    assert "<i>su appuntamento</i>" in sent["text"]
    assert '<a href="https://comune.example.it/agenda?s=cie&amp;t=1">agenda</a>' in sent["text"]
    assert '<a href="https://comune.example.it/cie">https://comune.example.it/cie</a>' in sent["text"]
    # what the citizen reads: the list as lines, the symbols as typed, no Markdown left
    assert "Porti con sé:\n\n• una fototessera recente\n• il documento scaduto\n\n" in sent["shown"]
    assert "Se 1 < 2 & 3 > 2, prenoti qui: agenda" in sent["shown"] and "**" not in sent["shown"]


def test_markup_telegram_refuses_goes_out_as_plain_text(stack: Stack) -> None:
    """Should Telegram ever refuse the renderer's markup, the words still reach the citizen, once, as plain text."""
    user = 935_000 + next(_n)
    tg_update(stack, user, "vorrei parlare con un operatore")
    stack.telegram.refuse_markup_of = "Orari dello sportello"
    try:
        _operator_replies(stack, "telegram", str(user), "Orari dello sportello: **lunedì** 9-12\n- a\n- b")
        got = stack.telegram.wait_for(
            lambda r: r["chat_id"] == user and "Orari dello sportello" in (r.get("attempted") or r["text"] or ""),
            count=2,
            timeout=60,
        )
    finally:
        stack.telegram.refuse_markup_of = None
    assert [bool(r.get("refused")) for r in got[-2:]] == [True, False], got
    assert got[-1]["parse_mode"] is None and got[-1]["text"].endswith(
        "dell'URP: Orari dello sportello: lunedì 9-12\n- a\n- b"
    )


def test_operator_markdown_on_sms_is_plain_text_within_two_segments(stack: Stack) -> None:
    number = phone()
    sms(stack, number, "vorrei parlare con un operatore")
    _operator_replies(stack, "sms", number, REPLY)
    got = stack.twilio.wait_for(lambda r: r.get("To") == number and "identit" in r.get("Body", ""), timeout=60)
    assert got, stack.twilio.requests[-3:]
    time.sleep(1)  # a reply in two parts: both are in by now
    start = stack.twilio.requests.index(got[0])
    # its parts (a late bot message about the operator, if any, is not part of it)
    body = "\n".join(
        r["Body"] for r in stack.twilio.requests[start:] if r.get("To") == number and "operatore" not in r["Body"]
    )
    assert render.sms_segments(body) <= 2, body
    # the operator's name first, in words (hub.Outgoing.text_for), then the text
    assert "dell'URP: Carta d'identità elettronica\nSi richiede all'Ufficio anagrafe su appuntamento;" in body
    assert body.endswith("\nApprofondisca qui: https://comune.example.it/cie")
    # whole sentences are left out, never cut: what remains of the text ends a sentence of it
    kept = body.rsplit("\n", 1)[0]
    assert kept.endswith(".") and kept.rsplit("\n", 1)[-1] in render.to_plain(REPLY)
    assert "**" not in body and "*" not in body and "[" not in body


def _recv_until(ws: Any, predicate: Any, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
        if predicate(event):
            return event
    raise AssertionError("no such event")


def test_operator_markdown_in_the_web_chat_is_sanitised_html(stack: Stack) -> None:
    from websockets.sync.client import connect

    ws_url = stack.crm.url.replace("http", "ws") + "/channels/web/ws"
    session = str(uuid.uuid4())
    hostile = REPLY + '\n\n<script>alert(1)</script><img src=x onerror="alert(2)"> [x](javascript:alert(3))'
    with connect(ws_url, open_timeout=60) as ws:
        ws.send(json.dumps({"type": "hello", "session": session}))
        ws.recv(timeout=60)
        ws.send(json.dumps({"type": "message", "text": "vorrei parlare con un operatore", "client_id": "c1"}))
        _operator_replies(stack, "web", session, hostile)
        reply = _recv_until(ws, lambda e: e.get("type") == "message" and "identità" in e.get("text", ""))
    html = reply["html"]
    assert reply["text"] == hostile  # the stored text stays as written; the widget shows the html
    assert "<ul>\n<li>una fototessera recente</li>\n<li>il documento scaduto</li>\n</ul>" in html
    assert '<a href="https://comune.example.it/cie" rel="noopener noreferrer">' in html
    assert "<strong>Carta d'identità elettronica</strong>" in html and "1 &lt; 2 &amp; 3 &gt; 2" in html
    assert "<script" not in html and "onerror" not in html and 'href="javascript' not in html
    with connect(ws_url, open_timeout=60) as ws:  # the history carries the same html
        ws.send(json.dumps({"type": "hello", "session": session}))
        hist = json.loads(ws.recv(timeout=60))
    mine = [m for m in hist["messages"] if m["id"] == reply["id"]]
    assert mine and mine[0]["html"] == html
    assert all("html" not in m for m in hist["messages"] if m["author"] == "citizen")


def test_knowledge_base_answer_on_telegram_has_a_clickable_link(stack: Stack, needs_rasa: None) -> None:
    with stack.client() as c:
        r = c.post(
            "/api/v1/kb/articles",
            headers=stack.ente.headers("admin"),
            json={
                "slug": "passo-carrabile-render",
                "title": "Passo carrabile: autorizzazione",
                "status": "published",
                "body": "Il passo carrabile si chiede all'Ufficio tecnico con la domanda e la planimetria "
                "dell'accesso.",
                "url": "https://comune.example.it/passo-carrabile?a=1&b=2",
            },
        )
        assert r.status_code in (201, 409), r.text
    user = 940_000 + next(_n)
    tg_update(stack, user, "come si chiede l'autorizzazione per il passo carrabile?")
    got = stack.telegram.wait_for(
        lambda r: (
            r["chat_id"] == user and "carrabile" in (r.get("shown") or "") or r["chat_id"] == user and r.get("refused")
        ),
        timeout=90,
    )
    assert got and not got[0].get("refused"), [r for r in stack.telegram.requests if r["chat_id"] == user]
    assert got[0]["parse_mode"] == "HTML"
    assert '<a href="https://comune.example.it/passo-carrabile?a=1&amp;b=2">' in got[0]["text"]


def test_widget_js_never_assigns_markup() -> None:
    from pathlib import Path

    js = (Path(__file__).parents[2] / "channels" / "static" / "widget.js").read_text()
    assert "innerHTML" not in js and "outerHTML" not in js and "insertAdjacentHTML" not in js
    assert "DOMParser" in js  # the server's html is parsed inert and rebuilt through the widget's allow-list

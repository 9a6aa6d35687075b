"""The citizen asks for the transcript from the web chat (the widget's "Ricevi la trascrizione via e-mail"): the
socket's ``transcript`` message queues the e-mail through its command, and answers in Italian."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from sqlalchemy import select

from tests.channels.conftest import Stack


def _until(ws: Any, kind: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        event = json.loads(ws.recv(timeout=60))
        if event["type"] == kind:
            return event  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind} event")


def test_the_citizen_gets_the_transcript_by_email(stack: Stack, db: Any) -> None:
    from websockets.sync.client import connect

    from crm.notifications.models import Notification

    ws_url = stack.crm.url.replace("http", "ws") + "/channels/web/ws"
    session = str(uuid.uuid4())
    with connect(ws_url, open_timeout=60) as ws:
        ws.send(json.dumps({"type": "hello", "session": session}))
        _until(ws, "history")
        ws.send(json.dumps({"type": "transcript", "email": "anna@example.it"}))
        nothing = _until(ws, "transcript")
        assert nothing == {
            "type": "transcript",
            "ok": False,
            "text": "Non c'è ancora una conversazione da inviare: scriva prima la sua domanda.",
        }
        ws.send(json.dumps({"type": "message", "text": "Quali sono gli orari dell'anagrafe?", "client_id": "t1"}))
        _until(ws, "ack")
        ws.send(json.dumps({"type": "transcript"}))  # the button: no address known yet, the widget must ask
        assert _until(ws, "transcript") == {
            "type": "transcript",
            "ok": False,
            "need_email": True,
            "text": "A quale indirizzo e-mail le inviamo la trascrizione?",
        }
        ws.send(json.dumps({"type": "transcript", "email": "non valida"}))
        bad = _until(ws, "transcript")
        assert bad["ok"] is False and bad["text"] == "L'indirizzo e-mail non sembra valido: lo controlli e riprovi."
        ws.send(json.dumps({"type": "transcript", "email": "anna@example.it"}))
        ok = _until(ws, "transcript")
        assert ok == {
            "type": "transcript",
            "ok": True,
            "text": "Le abbiamo inviato la trascrizione della conversazione all'indirizzo anna@example.it.",
        }
        ws.send(json.dumps({"type": "message", "text": "Grazie", "client_id": "t2"}))
        _until(ws, "ack")
        ws.send(json.dumps({"type": "transcript"}))  # something new said, but within ten minutes
        assert _until(ws, "transcript") == {
            "type": "transcript",
            "ok": False,
            "text": "Le abbiamo inviato la trascrizione di questa conversazione pochi minuti fa: potrà chiederne "
            "un'altra tra qualche minuto.",
        }

    async def queued(s: Any) -> list[tuple[str, str, bytes | None]]:
        rows = await s.execute(
            select(Notification.channel, Notification.text, Notification.attachment).where(
                Notification.kind == "conversation.transcript", Notification.address == "anna@example.it"
            )
        )
        return [(ch, text, pdf) for ch, text, pdf in rows.all()]

    rows = db.run(queued)
    assert len(rows) == 1 and rows[0][0] == "email"
    assert "Quali sono gli orari dell'anagrafe?" in rows[0][1] and "Trascrizione della conversazione" in rows[0][1]
    assert (rows[0][2] or b"").startswith(b"%PDF-")  # the PDF goes with it

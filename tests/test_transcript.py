"""A conversation's transcript (crm/conversations/transcript.py): the operator's PDF export from the workspace, in
Italian on Rome's clock across a DST change, senders as the citizen read them, never an internal note, with an audit
line per export; and the text the citizen gets by e-mail, delivered by the real e-mail sender."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import httpx
from pypdf import PdfReader
from sqlalchemy import select, update

from crm.conversations.models import Message
from tests.console.test_console import csrf, login

# the night Rome moves its clocks forward (29 March 2026): 00:15 CET and 14:05 CEST of the same Sunday
BEFORE_DST = datetime(2026, 3, 28, 23, 15, tzinfo=UTC)
AFTER_DST = datetime(2026, 3, 29, 12, 5, tzinfo=UTC)
ENGLISH = ("operator", "citizen", "assigned", "waiting", "closed", "system", "bot", "joined", "UTC", "23:15", "12:05")


def _english(text: str) -> list[str]:
    return [w for w in ENGLISH if re.search(rf"(?<![\w']){re.escape(w)}(?!\w)", text)]


def _chat(server: Any, client: httpx.Client, ente_ctx: Any, db: Any) -> int:
    """A web chat: the citizen, the assistant, the handoff, an operator (Giulia) who takes it, answers, writes an
    internal note and closes it; the first messages stamped before the DST change, the operator's after."""
    from crm.conversations import service
    from crm.operators.models import Operator

    cid = client.post(
        "/api/v1/contacts", json={"first_name": "Maria", "last_name": "Rossi"}, headers=ente_ctx.headers("operator")
    ).json()["id"]

    async def start(s: Any) -> int:
        op = await s.get(Operator, ente_ctx.operator_ids["operator"])
        op.full_name = "Giulia Bianchi"
        conv, _, _ = await service.record_inbound(
            s,
            ente_id=ente_ctx.ente_id,
            contact_id=cid,
            channel="web",
            text="Come rinnovo la carta d'identità?",
            channel_message_id=None,
        )
        await service.record_outbound(s, conv=conv, text="Serve prenotare all'anagrafe.", author_kind="bot")
        return conv.id

    conv_id = int(db.run(start))
    assert (
        client.post(
            f"/api/v1/conversations/{conv_id}/handoff",
            headers=ente_ctx.headers("service"),
            json={"topic": "urp", "summary": "Chiede un operatore"},
        ).status_code
        == 200
    )
    c = login(server, ente_ctx)
    token = csrf(c.get(f"/console/conversations/{conv_id}").text)
    for action, text in (
        ("take", ""),
        ("reply", "Buongiorno, le prenoto io l'appuntamento."),
        ("note", "NOTA SEGRETA"),
    ):
        assert (
            c.post(f"/console/conversations/{conv_id}/{action}", data={"csrf": token, "text": text}).status_code == 303
        )
    assert c.post(f"/console/conversations/{conv_id}/close", data={"csrf": token}).status_code == 303

    async def stamp(s: Any) -> None:
        ids = list(
            (await s.scalars(select(Message.id).where(Message.conversation_id == conv_id).order_by(Message.id))).all()
        )
        await s.execute(update(Message).where(Message.id.in_(ids[:2])).values(created_at=BEFORE_DST))
        await s.execute(update(Message).where(Message.id.in_(ids[2:])).values(created_at=AFTER_DST))

    db.run(stamp)
    return conv_id


def _text(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


def test_operator_exports_the_transcript_as_pdf(server: Any, client: httpx.Client, ente_ctx: Any, db: Any) -> None:
    conv_id = _chat(server, client, ente_ctx, db)
    c = login(server, ente_ctx)
    page = c.get(f"/console/conversations/{conv_id}").text
    assert f'href="/console/conversations/{conv_id}/trascrizione.pdf"' in page and "Esporta PDF" in page
    r = c.get(f"/console/conversations/{conv_id}/trascrizione.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'attachment; filename="trascrizione-conversazione-{conv_id}.pdf"'
    assert r.headers["x-content-type-options"] == "nosniff"
    flat = _text(r.content)
    assert "Trascrizione della conversazione" in flat and "Canale Web chat" in flat, flat
    assert "Cittadino Maria Rossi" in flat and "Stato chiusa il" in flat
    # who wrote, as the citizen read it, on Rome's clock on both sides of the change
    assert "29/03/2026 00:15 - Maria Rossi Come rinnovo la carta d'identità?" in flat, flat
    assert "29/03/2026 00:15 - Assistente virtuale Serve prenotare all'anagrafe." in flat
    assert "29/03/2026 14:05 - Giulia Buongiorno, le prenoto io l'appuntamento." in flat
    assert "29/03/2026 14:05 - Comune Giulia dell'URP ha preso in carico la conversazione" in flat
    assert "La conversazione è stata chiusa." in flat
    assert "NOTA SEGRETA" not in flat
    assert not _english(flat), (_english(flat), flat)
    # one audit line per export, naming who exported which conversation
    audit = client.get(
        "/api/v1/audit", params={"entity": "conversation", "entity_id": conv_id}, headers=ente_ctx.headers("admin")
    ).json()["items"]
    exports = [a for a in audit if a["action"] == "export"]
    assert len(exports) == 1 and exports[0]["details"]["format"] == "pdf"
    assert exports[0]["actor_id"] == ente_ctx.operator_ids["operator"]
    # the back office does not handle chats; another ente's operator does not see this one
    assert (
        login(server, ente_ctx, "backoffice").get(f"/console/conversations/{conv_id}/trascrizione.pdf").status_code
        == 403
    )


def test_other_ente_cannot_export(server: Any, client: httpx.Client, ente_ctx: Any, other_ente: Any, db: Any) -> None:
    conv_id = _chat(server, client, ente_ctx, db)
    assert login(server, other_ente).get(f"/console/conversations/{conv_id}/trascrizione.pdf").status_code == 404


def test_transcript_by_email_is_italian_and_delivered(
    server: Any, client: httpx.Client, ente_ctx: Any, db: Any
) -> None:
    from aiosmtpd.controller import Controller

    from channels.config import ChannelSettings
    from channels.email import EmailSender
    from crm.conversations import commands
    from crm.core.auth import Principal
    from crm.core.commands import Context
    from crm.core.errors import ValidationFailed
    from crm.notifications.senders import OutboundNotification
    from tests.conftest import _run_in_thread, free_port

    conv_id = _chat(server, client, ente_ctx, db)

    async def ask(s: Any, email: str) -> Any:
        cx = Context(principal=Principal.system(ente_ctx.ente_id, "channel:web"), session=s)
        n = await commands.send_transcript(cx, conversation_id=conv_id, email=email)
        return OutboundNotification(n.id, n.ente_id, n.contact_id, n.channel, n.address, n.subject, n.text, n.kind)

    try:
        db.run(lambda s: ask(s, "non-una-mail"))
        raise AssertionError("a bad address was accepted")
    except ValidationFailed:
        pass
    first = db.run(lambda s: ask(s, "maria.rossi@example.it"))
    again = db.run(lambda s: ask(s, "Maria.Rossi@example.it"))
    assert first.id == again.id  # nothing new said: the same e-mail, not a second one
    assert first.channel == "email" and first.address == "maria.rossi@example.it"
    assert first.subject.startswith("Trascrizione della conversazione con Comune di Prova")
    assert "[29/03/2026 00:15] Maria Rossi:\nCome rinnovo la carta d'identità?" in first.text
    assert "[29/03/2026 14:05] Giulia:\nBuongiorno, le prenoto io l'appuntamento." in first.text
    assert "Assistente virtuale" in first.text and "NOTA SEGRETA" not in first.text
    assert not _english(first.text), _english(first.text)

    received: list[str] = []

    class Inbox:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
            received.append(envelope.content.decode("utf-8", "replace"))
            return "250 OK"

    port = free_port()
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sender = EmailSender(ChannelSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False))
        _run_in_thread(lambda: sender.send(first))
    finally:
        controller.stop()
    assert len(received) == 1
    from email import message_from_string

    mail = message_from_string(received[0])
    body = mail.get_payload(decode=True).decode("utf-8")  # type: ignore[union-attr]
    assert "Maria Rossi" in body and "29/03/2026 14:05" in body and "NOTA SEGRETA" not in body
    assert re.search(r"Trascrizione della conversazione", body)

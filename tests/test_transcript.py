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
        n = (await commands.send_transcript(cx, conversation_id=conv_id, email=email)).notification
        return OutboundNotification(
            n.id,
            n.ente_id,
            n.contact_id,
            n.channel,
            n.address,
            n.subject,
            n.text,
            n.kind,
            n.attachment_name,
            n.attachment,
        )

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
    assert mail.is_multipart()
    text_part, pdf_part = [p for p in mail.walk() if not p.is_multipart()]
    body = text_part.get_payload(decode=True).decode("utf-8")  # type: ignore[union-attr]
    assert "Maria Rossi" in body and "29/03/2026 14:05" in body and "NOTA SEGRETA" not in body
    assert re.search(r"Trascrizione della conversazione", body) and "In allegato la stessa trascrizione in PDF" in body
    # the PDF attached: the operator's export, Italian, on Rome's clock across the DST change
    assert pdf_part.get_content_type() == "application/pdf"
    assert pdf_part.get_filename() == f"trascrizione-conversazione-{conv_id}.pdf"
    flat = _text(pdf_part.get_payload(decode=True))  # type: ignore[arg-type]
    assert "29/03/2026 00:15 - Maria Rossi Come rinnovo la carta d'identità?" in flat, flat
    assert "29/03/2026 14:05 - Giulia Buongiorno, le prenoto io l'appuntamento." in flat
    assert "Stato chiusa il" in flat and "NOTA SEGRETA" not in flat
    assert not _english(flat), (_english(flat), flat)


def test_transcript_address_rate_limit_and_the_contact_s_email(
    server: Any, client: httpx.Client, ente_ctx: Any, db: Any
) -> None:
    """Without an address the transcript goes to the contact's own e-mail (none: ``required``); an address given
    fills the contact's empty e-mail (through the contacts' capture, with its audit line), never replaces an
    operator's (a conflict instead); one transcript per conversation every ten minutes."""
    from datetime import timedelta

    from crm.contacts.models import Contact, ContactConflict
    from crm.conversations import commands
    from crm.conversations.models import Conversation
    from crm.core.auth import Principal
    from crm.core.commands import Context
    from crm.core.errors import TooManyRequests, ValidationFailed
    from crm.notifications.models import Notification

    conv_id = _chat(server, client, ente_ctx, db)

    async def ask(s: Any, email: str | None) -> Any:
        cx = Context(principal=Principal.system(ente_ctx.ente_id, "channel:web"), session=s)
        return await commands.send_transcript(cx, conversation_id=conv_id, email=email)

    def refused(email: str | None) -> Exception:
        try:
            db.run(lambda s: ask(s, email))
        except (ValidationFailed, TooManyRequests) as exc:
            return exc
        raise AssertionError("not refused")

    no_address = refused(None)
    assert isinstance(no_address, ValidationFailed) and no_address.fields == {"email": "required"}
    sent = db.run(lambda s: ask(s, "maria.rossi@example.it"))
    assert sent.given and sent.address == "maria.rossi@example.it"

    async def contact_of(s: Any) -> tuple[list[str], list[tuple[str, str]]]:
        conv = await s.get(Conversation, conv_id)
        c = await s.get(Contact, conv.contact_id)
        await s.refresh(c, ["emails"])
        conflicts = await s.execute(
            select(ContactConflict.field, ContactConflict.value).where(ContactConflict.contact_id == c.id)
        )
        return [e.email for e in c.emails], [(f, v) for f, v in conflicts.all()]

    assert db.run(contact_of) == (["maria.rossi@example.it"], [])  # the empty e-mail filled
    audit = client.get("/api/v1/audit", params={"entity": "contact"}, headers=ente_ctx.headers("admin")).json()["items"]
    captures = [a for a in audit if a["action"] == "capture"]
    assert (
        captures and captures[0]["details"]["filled"] == ["email"] and captures[0]["details"]["source"] == "transcript"
    )
    assert "maria.rossi@example.it" not in str(captures)  # the audit names the field, never the value
    # within ten minutes: refused, to any address, with the time to wait
    too_soon = refused("altra@example.it")
    assert isinstance(too_soon, TooManyRequests) and 1 <= int(too_soon.headers["Retry-After"]) <= 600
    # the same e-mail asked again (the contact's address is the one just given): the same one, nothing queued
    assert db.run(lambda s: ask(s, None)).notification.id == sent.notification.id

    async def age(s: Any) -> None:
        for n in (await s.scalars(select(Notification).where(Notification.kind == "conversation.transcript"))).all():
            n.created_at = n.created_at - timedelta(minutes=11)

    db.run(age)
    # later: without an address, to the contact's own e-mail (shown masked by the channels); nothing new was said,
    # so nothing new is queued
    again = db.run(lambda s: ask(s, None))
    assert not again.given and again.address == "maria.rossi@example.it"
    assert again.notification.id == sent.notification.id
    db.run(age)
    # a different address is used for this e-mail but does not replace the contact's: a conflict for an operator
    other = db.run(lambda s: ask(s, "maria.nuova@example.it"))
    assert other.address == "maria.nuova@example.it"
    assert db.run(contact_of) == (["maria.rossi@example.it"], [("email", "maria.nuova@example.it")])
    lines = client.get(
        "/api/v1/audit", params={"entity": "conversation", "entity_id": conv_id}, headers=ente_ctx.headers("admin")
    ).json()["items"]
    assert sorted(a["details"]["address"] for a in lines if a["action"] == "transcript") == [
        "contact",
        "contact",
        "given",
        "given",
    ]

    async def queued(s: Any) -> list[str]:
        rows = await s.scalars(
            select(Notification.address).where(Notification.dedupe_key.startswith(f"transcript:{conv_id}:"))
        )
        return sorted(rows.all())

    assert db.run(queued) == ["maria.nuova@example.it", "maria.rossi@example.it"]

"""E-mail notifications through aiosmtplib against a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

from aiosmtpd.controller import Controller

from channels.config import ChannelSettings
from channels.email import EmailSender
from crm.notifications.senders import OutboundNotification, SendError
from tests.conftest import _run_in_thread, free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"


def test_email_sender_delivers_and_reports_outages() -> None:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sender = EmailSender(
            ChannelSettings(
                smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, smtp_from="URP <urp@comune.example.it>"
            )
        )
        n = OutboundNotification(
            1,
            1,
            1,
            "email",
            "cittadino@example.it",
            "Appuntamento AN-7K3P9",
            "Appuntamento confermato per giovedì alle 9:20.",
            "booking.confirmed",
        )
        assert _run_in_thread(lambda: sender.send(n))  # a browser test may own this thread's loop
        frm, to, body = inbox.messages[0]
        assert frm == "urp@comune.example.it" and to == ["cittadino@example.it"]
        assert "Subject: Appuntamento AN-7K3P9" in body and "gioved" in body
    finally:
        controller.stop()
    down = EmailSender(ChannelSettings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False))
    try:
        _run_in_thread(lambda: down.send(n))
        raise AssertionError("expected a SendError")
    except SendError as exc:
        assert not exc.permanent  # an outage is retried by the outbox

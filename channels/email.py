"""E-mail for notifications (aiosmtplib)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import aiosmtplib

from channels.config import ChannelSettings
from crm.notifications.senders import SendError


class EmailSender:
    channel = "email"

    def __init__(self, settings: ChannelSettings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host)

    async def send(self, n: Any) -> str:
        s = self.settings
        msg = EmailMessage()
        msg["From"] = s.smtp_from
        msg["To"] = n.address
        msg["Subject"] = n.subject or "Comunicazione dal Comune"
        msg.set_content(n.text + "\n\n-- \nQuesto messaggio è stato inviato automaticamente dal Comune.")
        body, name = getattr(n, "attachment", None), getattr(n, "attachment_name", None)
        if body:  # the transcript PDF (the only file a notification carries)
            msg.add_attachment(body, maintype="application", subtype="pdf", filename=name or "allegato.pdf")
        try:
            result = await aiosmtplib.send(
                msg,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                start_tls=s.smtp_starttls,
                timeout=15,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise SendError(f"recipient refused: {type(exc).__name__}", permanent=True) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SendError(f"smtp unavailable: {type(exc).__name__}") from None
        return str(result[1])[:200]

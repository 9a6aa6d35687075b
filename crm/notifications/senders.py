"""The delivery interface channels implement, and the log sender used when a channel is not configured."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("urp.notifications")


@dataclass(frozen=True)
class OutboundNotification:
    id: int
    ente_id: int
    contact_id: int
    channel: str
    address: str
    subject: str
    text: str
    kind: str
    attachment_name: str | None = None  # a file sent with it (e-mail: the transcript PDF)
    attachment: bytes | None = None


class SendError(Exception):
    """A send that failed; ``permanent`` ones are not retried (bad address, opted out)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    channel: str

    async def send(self, message: OutboundNotification) -> str:
        """Deliver and return the provider's message id; raise SendError on failure."""
        ...


class LogSender:
    """Records that a notification would be sent. Logs ids only: citizen data never goes to logs."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.sent: list[int] = []

    async def send(self, message: OutboundNotification) -> str:
        log.info("notification %s (%s) delivered to log sender for channel %s", message.id, message.kind, self.channel)
        self.sent.append(message.id)
        return f"log-{message.id}"

"""One message shape for every channel, and the interface each channel adapter implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from crm.core.text import clean_text


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass
class Inbound:
    """A citizen's message, whatever channel it came from."""

    channel: str  # web | sms | telegram
    address: str  # the citizen's id on that channel: E.164 phone, Telegram user id, web session id
    text: str
    channel_message_id: str | None  # Twilio MessageSid, Telegram update_id, web client id: retries are stored once
    phone: str | None = None  # a verified phone number, when the channel gives one (SMS, Telegram shared contact)
    display_name: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    # files (crm.conversations.files): as stored, or before download {telegram_file_id | url, name, content_type, size}
    attachments: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # every channel's one sanitising step: NUL and other control characters (which PostgreSQL refuses or no
        # person typed) are dropped here, so the message is stored rather than lost to a database error
        self.text = clean_text(self.text)
        self.address = clean_text(self.address)
        self.display_name = clean_text(self.display_name)
        if self.channel_message_id is not None:
            self.channel_message_id = clean_text(self.channel_message_id)
        self.payload = {k: clean_text(v) if isinstance(v, str) else v for k, v in self.payload.items()}


@dataclass(frozen=True)
class OutFile:
    """A file an operator sends back: where it is stored, and the link the web widget shows."""

    name: str
    content_type: str
    size: int
    path: Path
    url: str  # the path of the citizen's copy (``/channels/web/files/...``), signed

    @property
    def image(self) -> bool:
        return self.content_type.startswith("image/")

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "url": self.url,
            "image": self.image,
        }


class SendFailed(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.unparsed = False  # the provider could not read the message's markup (Telegram's parse mode)


class ChannelAdapter(Protocol):
    """Verify and parse inbound traffic (in the channel's webhook), send outbound, report delivery."""

    name: str

    @property
    def configured(self) -> bool: ...

    async def send(self, address: str, text: str, buttons: list[Button], **kw: Any) -> str | list[str]:
        """Send and return the provider's message id (or the ids of its parts, in order); raise SendFailed.
        Keywords the hub may pass: ``message_id`` (the stored message); for adapters with ``multipart = True``,
        ``skip`` (parts already sent) and ``on_part(index, provider_id, last)``."""
        ...


def buttons_from_payload(payload: dict[str, Any] | None) -> list[Button]:
    return [Button(b.get("title", ""), b.get("payload", "")) for b in (payload or {}).get("buttons", [])]

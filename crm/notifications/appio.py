"""App IO (the PagoPA app of Italian public services) as a notification channel, through the same outbox as SMS and
e-mail (retries, delivery status). The contract is the public OpenAPI of ``pagopa/io-functions-services``
(``openapi/index.yaml``): first ``getProfile`` (``GET /profiles/{fiscal_code}``; 404 or ``sender_allowed: false``
means the citizen cannot or does not want to be reached there), then ``submitMessageforUserWithFiscalCodeInBody``
(``POST /messages``), authenticated by the ente's service key in ``Ocp-Apim-Subscription-Key``.

The subject names the kind of message and its code, never personal data; the body is Markdown (80-10,000
characters); appointments carry their start as ``due_date`` so the app offers a reminder. Configuration:
``URP_APP_IO_URL`` and ``URP_APP_IO_KEYS`` (``ente-slug=key,...``, secrets only from the environment)."""

from __future__ import annotations

import logging
import re
from datetime import UTC
from functools import lru_cache
from typing import Any

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.notifications.senders import OutboundNotification, SendError

log = logging.getLogger("urp.notifications")
CHANNEL = "io"
KINDS = ("booking.confirmed", "booking.reminder", "booking.cancelled", "instance.")  # what goes to IO too
FOOTER = "\n\n---\n*Messaggio dello Sportello URP del Comune: non risponda a questo messaggio.*"
TIMEOUT = 10.0


class AppIoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="URP_", env_file=".env", extra="ignore")

    app_io_url: str = "https://api.io.pagopa.it/api/v1"
    app_io_keys: SecretStr | None = None  # "borgo-aurelio=KEY,altro-comune=KEY2"

    def keys(self) -> dict[str, str]:
        raw = self.app_io_keys.get_secret_value() if self.app_io_keys else ""
        out = {}
        for part in raw.split(","):
            slug, _, key = part.strip().partition("=")
            if slug and key:
                out[slug.strip()] = key.strip()
        return out


@lru_cache
def get_app_io_settings() -> AppIoSettings:
    return AppIoSettings()


def wanted(kind: str) -> bool:
    return any(kind == k or (k.endswith(".") and kind.startswith(k)) for k in KINDS)


async def also_to_io(
    session: AsyncSession, *, ente_id: int, contact: Any, kind: str, subject: str, text: str, dedupe_key: str
) -> None:
    """Queue the IO copy of a notification when the ente has an IO service key and the citizen a fiscal code (the
    provider decides, at send time, whether their profile allows it)."""
    from crm.entes.models import Ente
    from crm.notifications.models import Notification

    if not wanted(kind) or not contact.fiscal_code or CHANNEL in (contact.opted_out_channels or []):
        return
    slug = await session.scalar(select(Ente.slug).where(Ente.id == ente_id))
    if slug not in get_app_io_settings().keys():
        return
    key = f"{dedupe_key}:io"
    if await session.scalar(
        select(Notification.id).where(Notification.ente_id == ente_id, Notification.dedupe_key == key)
    ):
        return
    async with session.begin_nested():
        session.add(
            Notification(
                ente_id=ente_id,
                contact_id=contact.id,
                kind=kind,
                channel=CHANNEL,
                address=contact.fiscal_code,
                subject=subject,
                text=text,
                dedupe_key=key,
            )
        )
        await session.flush()


def subject_of(message: OutboundNotification) -> str:
    """10-120 characters, no personal data: the kind of message and its code."""
    subject = re.sub(r"\s+", " ", message.subject or "").strip() or "Comunicazione del Comune"
    if len(subject) < 10:
        subject = f"Comunicazione: {subject}"
    return subject[:120]


def markdown_of(message: OutboundNotification) -> str:
    body = (message.text or "").strip() + FOOTER
    return body[:10000]


class AppIoSender:
    """``Sender`` of the ``io`` channel. A missing profile or a refusal is permanent (not retried); 429 and 5xx are
    retried by the outbox with its backoff."""

    channel = CHANNEL

    def __init__(
        self, app: Any, settings: AppIoSettings | None = None, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.app = app
        self.settings = settings or get_app_io_settings()
        self.transport = transport

    async def _key(self, ente_id: int) -> str:
        from crm.entes.models import Ente

        async with self.app.ctx.read_sessionmaker() as s:
            slug = await s.scalar(select(Ente.slug).where(Ente.id == ente_id))
        key = self.settings.keys().get(slug or "")
        if not key:
            raise SendError("no App IO service key for this ente", permanent=True)
        return key

    async def _due_date(self, message: OutboundNotification) -> str | None:
        if not message.kind.startswith("booking.") or message.kind == "booking.cancelled":
            return None
        from crm.bookings.models import Booking
        from crm.notifications.models import Notification

        async with self.app.ctx.read_sessionmaker() as s:
            key = await s.scalar(select(Notification.dedupe_key).where(Notification.id == message.id))
            m = re.match(r"booking:(\d+):", key or "")
            b = await s.get(Booking, int(m.group(1))) if m else None
        return b.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z") if b else None

    async def send(self, message: OutboundNotification) -> str:
        key = await self._key(message.ente_id)
        fiscal_code = message.address.upper()
        headers = {"Ocp-Apim-Subscription-Key": key}
        base = self.settings.app_io_url.rstrip("/")
        async with httpx.AsyncClient(timeout=TIMEOUT, transport=self.transport) as http:
            try:
                profile = await http.get(f"{base}/profiles/{fiscal_code}", headers=headers)
                if profile.status_code == 404:
                    raise SendError("citizen not on App IO", permanent=True)
                self._raise_for(profile, "getProfile")
                if not profile.json().get("sender_allowed"):
                    raise SendError("citizen does not allow messages from this service", permanent=True)
                content: dict[str, Any] = {"subject": subject_of(message), "markdown": markdown_of(message)}
                due = await self._due_date(message)
                if due:
                    content["due_date"] = due
                r = await http.post(
                    f"{base}/messages",
                    headers=headers,
                    json={"time_to_live": 3600, "content": content, "fiscal_code": fiscal_code},
                )
                self._raise_for(r, "submitMessage")
                return str(r.json().get("id") or "")
            except httpx.HTTPError as exc:
                raise SendError(f"App IO unreachable: {type(exc).__name__}") from None

    @staticmethod
    def _raise_for(r: httpx.Response, what: str) -> None:
        if r.status_code in (200, 201):
            return
        permanent = r.status_code in (400, 401, 403)
        raise SendError(f"App IO {what} answered {r.status_code}", permanent=permanent)

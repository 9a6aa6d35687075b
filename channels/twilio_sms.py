"""SMS through Twilio: signed inbound webhook, outbound through the official client, delivery callbacks.

Buttons become numbered options ("1. Sì  2. No"); the citizen answers with the digit. STOP/ANNULLA opt out,
START opts back in (the outbox and the hub refuse to text an opted-out number).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from channels import render
from channels.base import Button, SendFailed
from channels.config import ChannelSettings

SMS_CHUNK = 300  # characters per message part: long answers are split on sentence or word boundaries
STOP_WORDS = {"stop", "annulla", "cancella", "basta sms", "stopall", "unsubscribe"}
START_WORDS = {"start", "riattiva", "unstop"}


class _BaseUrlClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no type information
    """The real Twilio HTTP client, with the API host swapped (tests point it at a fake Twilio on loopback)."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self._base = base.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        url = re.sub(r"^https://[a-z.]*twilio\.com", self._base, url)
        return super().request(method, url, *args, **kwargs)


def split_text(text: str, limit: int = SMS_CHUNK) -> list[str]:
    """Parts of at most ``limit`` characters, cut between lines, then sentences, then words; line breaks kept."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    parts: list[str] = []
    current = ""
    for line in filter(None, lines):
        while len(line) > limit:
            window = line[:limit]
            cut = max(window.rfind(". "), window.rfind("? "), window.rfind("! "))
            cut = cut + 1 if cut > limit // 2 else window.rfind(" ")
            cut = cut if cut > 0 else limit
            head, line = line[:cut].strip(), line[cut:].strip()
            if current:
                parts.append(current)
                current = ""
            parts.append(head)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts


def render_buttons(text: str, buttons: list[Button]) -> str:
    if not buttons:
        return text
    options = "\n".join(f"{i}. {b.title}" for i, b in enumerate(buttons, 1))
    return f"{text}\n{options}\nRisponda con il numero."


def reply_parts(text: str, buttons: list[Button]) -> list[str]:
    """What a reply (the bot's or an operator's Markdown) becomes on SMS: plain GSM text (``render.to_sms``), the
    buttons as numbered options, in parts."""
    return split_text(render.gsm(render_buttons(render.to_sms(text), buttons)))


class TwilioSmsAdapter:
    name = "sms"

    def __init__(self, settings: ChannelSettings) -> None:
        self.settings = settings
        self._client: Client | None = None

    @property
    def configured(self) -> bool:
        s = self.settings
        return bool(s.twilio_account_sid and s.twilio_auth_token and s.twilio_from_number)

    def validator(self) -> RequestValidator:
        assert self.settings.twilio_auth_token is not None
        return RequestValidator(self.settings.twilio_auth_token.get_secret_value())

    def client(self) -> Client:
        if self._client is None:
            s = self.settings
            assert s.twilio_auth_token is not None
            http = _BaseUrlClient(s.twilio_api_base) if s.twilio_api_base else None
            self._client = Client(s.twilio_account_sid, s.twilio_auth_token.get_secret_value(), http_client=http)
        return self._client

    multipart = True  # the hub records each part as it goes (a crash re-sends only the parts not recorded)

    async def send(
        self,
        address: str,
        text: str,
        buttons: list[Button],
        *,
        skip: int = 0,
        on_part: Callable[[int, str, bool], Awaitable[None]] | None = None,
        **_: Any,
    ) -> list[str]:
        """Send a reply (``reply_parts``), the parts from ``skip`` on, calling ``on_part(index, sid, last)`` after
        each; return their SIDs."""
        return await self._send(address, reply_parts(text, buttons), skip=skip, on_part=on_part)

    async def _send(
        self,
        address: str,
        parts: list[str],
        *,
        skip: int = 0,
        on_part: Callable[[int, str, bool], Awaitable[None]] | None = None,
    ) -> list[str]:
        sids = []
        for index, part in enumerate(parts):
            if index < skip:
                continue
            try:
                msg = await asyncio.to_thread(
                    self.client().messages.create, to=address, from_=self.settings.twilio_from_number, body=part
                )
            except TwilioRestException as exc:
                # 4xx other than rate limiting are the request's fault (bad number...): do not retry
                raise SendFailed(
                    f"twilio {exc.status}: {exc.code}", permanent=400 <= exc.status < 500 and exc.status != 429
                ) from None
            except Exception as exc:  # network errors: retried from the outbox
                raise SendFailed(f"twilio unreachable: {type(exc).__name__}") from None
            sids.append(msg.sid)
            if on_part is not None:
                await on_part(index, msg.sid, index == len(parts) - 1)
        return sids

    async def fetch_media(self, url: str, max_bytes: int) -> bytes | None:
        """An MMS's picture, fetched with the account's credentials (Twilio's media may require them); None when
        larger than ``max_bytes``. Only Twilio's own API host (or the configured one) is asked: the URL comes in a
        webhook, and the credentials must not go anywhere else. Raises ``SendFailed`` when it cannot be fetched."""
        s = self.settings
        allowed = (s.twilio_api_base.rstrip("/") + "/") if s.twilio_api_base else "https://api.twilio.com/"
        if not url.startswith(allowed) or s.twilio_auth_token is None or not s.twilio_account_sid:
            raise SendFailed("media URL outside Twilio's API", permanent=True)
        body = bytearray()
        try:
            # a redirect to Twilio's CDN drops the credentials (httpx sends them to the same origin only)
            async with httpx.AsyncClient(timeout=15, follow_redirects=True) as client:
                auth = (s.twilio_account_sid, s.twilio_auth_token.get_secret_value())
                async with client.stream("GET", url, auth=auth) as r:
                    if r.status_code != 200:
                        # refused for good (credentials, a bad URL); not yet there (404) or down: tried again
                        again = r.status_code >= 500 or r.status_code in (404, 408, 429)
                        raise SendFailed(f"twilio media {r.status_code}", permanent=not again)
                    async for chunk in r.aiter_bytes():
                        body += chunk
                        if len(body) > max_bytes:
                            return None
        except httpx.HTTPError as exc:
            raise SendFailed(f"twilio media unreachable: {type(exc).__name__}") from None
        return bytes(body)

    async def send_notification(self, n: Any) -> str:
        sids = await self._send(n.address, split_text(n.text))  # a notification's template is plain text
        return sids[0] + (f" +{len(sids) - 1}" if len(sids) > 1 else "")  # the outbox keeps one id (200 characters)


def verify(adapter: TwilioSmsAdapter, url: str, params: dict[str, str], signature: str) -> bool:
    return bool(signature) and adapter.validator().validate(url, params, signature)


def map_digit_reply(text: str, buttons: list[dict[str, Any]]) -> str | None:
    """ "2" after a numbered menu means the second button's payload."""
    m = re.fullmatch(r"\s*(\d{1,2})\s*[.)]?\s*", text)
    if not m or not buttons:
        return None
    i = int(m.group(1)) - 1
    return buttons[i].get("payload") if 0 <= i < len(buttons) else None

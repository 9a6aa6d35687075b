"""The hub's client for Rasa's REST channel. Rasa is one participant of the conversation, not the hub."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp


class RasaUnavailable(Exception):
    pass


class RasaClient:
    """One pooled HTTP client for the process (a new connection per turn cost a TCP handshake and the client's own
    set-up on every message). aiohttp, not httpx: with the hub's turns in flight together httpx spent 1.1-2.0 ms of
    CPU a request in its pool against aiohttp's 0.13-0.18 ms (bench/http_client_bench.py)."""

    # Rasa's Sanic closes an idle kept-alive connection after 5 s: the client lets it go first, so a turn is never
    # posted on a connection the server is closing (that would read as "Rasa down" and hand the citizen off)
    KEEPALIVE_SECONDS = 3.0

    def __init__(self, base_url: str, token: str | None, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.params = {"token": token} if token else None
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> aiohttp.ClientSession:
        """The session of the running event loop (made again when the loop changed, e.g. between tests)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=self.KEEPALIVE_SECONDS),
            )
            self._loop = loop
        return self._session

    async def ask(self, *, sender: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """Send a message and return Rasa's replies ([{text, buttons?}, ...]); RasaUnavailable if down or slow."""
        try:
            async with self.client().post(
                f"{self.base_url}/webhooks/rest/webhook",
                params=self.params,
                json={"sender": sender, "message": text, "metadata": metadata},
            ) as r:
                status, body = r.status, await r.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RasaUnavailable(type(exc).__name__) from None
        if status != 200:
            raise RasaUnavailable(f"HTTP {status}")
        try:
            replies = json.loads(body)
        except ValueError:
            raise RasaUnavailable("invalid JSON") from None
        if not isinstance(replies, list):
            raise RasaUnavailable("unexpected answer")
        return [m for m in replies if isinstance(m, dict) and (m.get("text") or m.get("buttons"))]

    async def probe(self) -> dict[str, Any]:
        return await self.reachable(self.base_url + "/")

    async def reachable(self, url: str) -> dict[str, Any]:
        """``/health``'s check of a server the turn needs (Rasa, the action server): ok, error or unreachable."""
        try:
            async with self.client().get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return {"status": "unreachable", "error": type(exc).__name__}
        return {"status": "ok"} if status == 200 else {"status": "error", "error": f"HTTP {status}"}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def ask_rasa(
    base_url: str, token: str | None, *, sender: str, text: str, metadata: dict[str, Any], timeout: float
) -> list[dict[str, Any]]:
    """One-off call (scripts and tests); the server uses its pooled ``RasaClient``."""
    client = RasaClient(base_url, token, timeout)
    try:
        return await client.ask(sender=sender, text=text, metadata=metadata)
    finally:
        await client.close()

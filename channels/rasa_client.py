"""The hub's client for Rasa's REST channel. Rasa is one participant of the conversation, not the hub."""

from __future__ import annotations

from typing import Any

import httpx


class RasaUnavailable(Exception):
    pass


class RasaClient:
    """One pooled HTTP client for the process (a new connection per turn cost a TCP handshake and the client's own
    set-up on every message)."""

    def __init__(self, base_url: str, token: str | None, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.params = {"token": token} if token else None
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout, limits=httpx.Limits(max_connections=64, max_keepalive_connections=32)
            )
        return self._client

    async def ask(self, *, sender: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """Send a message and return Rasa's replies ([{text, buttons?}, ...]); RasaUnavailable if down or slow."""
        try:
            r = await self.client().post(
                f"{self.base_url}/webhooks/rest/webhook",
                params=self.params,
                json={"sender": sender, "message": text, "metadata": metadata},
            )
        except httpx.HTTPError as exc:
            raise RasaUnavailable(type(exc).__name__) from None
        if r.status_code != 200:
            raise RasaUnavailable(f"HTTP {r.status_code}")
        try:
            replies = r.json()
        except ValueError:
            raise RasaUnavailable("invalid JSON") from None
        if not isinstance(replies, list):
            raise RasaUnavailable("unexpected answer")
        return [m for m in replies if isinstance(m, dict) and (m.get("text") or m.get("buttons"))]

    async def probe(self) -> dict[str, Any]:
        try:
            r = await self.client().get(self.base_url + "/", timeout=2)
        except httpx.HTTPError as exc:
            return {"status": "unreachable", "error": type(exc).__name__}
        return {"status": "ok"} if r.status_code == 200 else {"status": "error", "error": f"HTTP {r.status_code}"}

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def ask_rasa(
    base_url: str, token: str | None, *, sender: str, text: str, metadata: dict[str, Any], timeout: float
) -> list[dict[str, Any]]:
    """One-off call (scripts and tests); the server uses its pooled ``RasaClient``."""
    client = RasaClient(base_url, token, timeout)
    try:
        return await client.ask(sender=sender, text=text, metadata=metadata)
    finally:
        await client.close()

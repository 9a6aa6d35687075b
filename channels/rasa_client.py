"""The hub's client for Rasa's REST channel. Rasa is one participant of the conversation, not the hub."""

from __future__ import annotations

from typing import Any

import httpx


class RasaUnavailable(Exception):
    pass


async def ask_rasa(base_url: str, token: str | None, *, sender: str, text: str, metadata: dict[str, Any],
                   timeout: float) -> list[dict[str, Any]]:
    """Send a message and return Rasa's replies ([{text, buttons?}, ...]); RasaUnavailable if down or slow."""
    params = {"token": token} if token else None
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            r = await client.post(f"{base_url.rstrip('/')}/webhooks/rest/webhook", params=params,
                                  json={"sender": sender, "message": text, "metadata": metadata})
    except httpx.HTTPError as exc:
        raise RasaUnavailable(type(exc).__name__) from None
    if r.status_code != 200:
        raise RasaUnavailable(f"HTTP {r.status_code}")
    try:
        replies = r.json()
    except ValueError:
        raise RasaUnavailable("invalid JSON") from None
    return [m for m in replies if isinstance(m, dict) and (m.get("text") or m.get("buttons"))]

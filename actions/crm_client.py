"""The one small client the actions use to reach the back office (`/api/v1` with a service token)."""

from __future__ import annotations

import os
from typing import Any

import httpx


class CrmUnavailable(Exception):
    """The CRM is down, slow or answered 5xx: the action apologises in Italian and nothing is lost."""


class CrmClient:
    def __init__(self, base_url: str | None = None, token: str | None = None, timeout: float | None = None) -> None:
        self.base_url = (base_url or os.environ.get("URP_CRM_URL", "http://127.0.0.1:8000")).rstrip("/")
        self.token = token or os.environ.get("URP_SERVICE_TOKEN", "dev-service-token")
        # a slow CRM must not keep the citizen waiting: past this, the action apologises (URP_CRM_TIMEOUT seconds)
        self.timeout = timeout if timeout is not None else float(os.environ.get("URP_CRM_TIMEOUT", "15"))

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                      **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout, headers=headers) as c:
                r = await c.request(method, "/api/v1" + path, **kw)
        except httpx.HTTPError as exc:
            raise CrmUnavailable(type(exc).__name__) from None
        if r.status_code >= 500:
            raise CrmUnavailable(f"HTTP {r.status_code}")
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, None

    async def kb_search(self, q: str, k: int = 3, channel: str = "") -> dict[str, Any]:
        status, body = await self.request("GET", "/kb/search", params={"q": q[:500], "k": k, "channel": channel})
        if status != 200:
            return {"answerable": False, "results": [], "reason": f"HTTP {status}"}
        return body

    async def kb_feedback(self, slug: str | None, query: str, helpful: bool, conversation_id: int | None) -> None:
        await self.request("POST", "/kb/feedback", json={"slug": slug, "query": query[:500], "helpful": helpful,
                                                         "conversation_id": conversation_id})

    async def handoff(self, conversation_id: int, summary: str, context: dict[str, Any],
                      topic: str | None = None) -> int:
        status, _ = await self.request("POST", f"/conversations/{conversation_id}/handoff",
                                       json={"summary": summary[:2000], "context": context, "topic": topic})
        return status

    async def desk(self) -> dict[str, Any]:
        """Is the URP open now, when does it open next, how many wait and for how long (GET /desk)."""
        status, body = await self.request("GET", "/desk")
        if status != 200 or not isinstance(body, dict):
            raise CrmUnavailable(f"HTTP {status}")
        return body

    async def create_request(self, body: dict[str, Any]) -> tuple[int, Any]:
        return await self.request("POST", "/requests", json=body)

    async def find_request(self, code: str, contact_id: int) -> dict[str, Any] | None:
        status, body = await self.request("GET", "/requests", params={"q": code, "contact_id": contact_id})
        if status != 200 or not body.get("items"):
            return None
        return next((i for i in body["items"] if i["code"].upper() == code.upper()), None)

    async def _own(self, path: str, code: str, contact_id: int) -> dict[str, Any] | None:
        """The contact's own item (istanza, booking) with this code: the channel identity is the proof."""
        status, body = await self.request("GET", path, params={"contact_id": contact_id, "limit": 200})
        if status != 200:
            return None
        return next((i for i in body.get("items", []) if i["code"].upper() == code.upper()), None)

    async def find_instance(self, code: str, contact_id: int) -> dict[str, Any] | None:
        return await self._own("/instances", code, contact_id)

    async def lookup_instance(self, code: str, second_factor: str, caller: str) -> tuple[int, Any]:
        """Citizen look-up by code plus a second factor; the caller key lets the CRM throttle a guesser."""
        return await self.request("POST", "/instances/lookup", json={"code": code, "second_factor": second_factor},
                                  headers={"X-Citizen-Key": caller})

    async def list_bookings(self, contact_id: int) -> tuple[int, Any]:
        return await self.request("GET", "/bookings", params={"contact_id": contact_id})

    async def find_booking(self, code: str, contact_id: int) -> dict[str, Any] | None:
        return await self._own("/bookings", code, contact_id)

    async def active_bookings(self, contact_id: int) -> list[dict[str, Any]]:
        """The contact's confirmed bookings ([] when the CRM has none to give)."""
        status, body = await self.list_bookings(contact_id)
        return [b for b in (body or {}).get("items", []) if b.get("status") == "confirmed"] if status == 200 else []

    async def lookup_booking(self, code: str, second_factor: str, caller: str) -> tuple[int, Any]:
        """A booking by code plus a second factor, for someone writing from a channel that is not their own."""
        return await self.request("POST", "/bookings/lookup", json={"code": code, "second_factor": second_factor},
                                  headers={"X-Citizen-Key": caller})

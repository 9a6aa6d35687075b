"""The one client the actions use to reach the back office (`/api/v1` with a service token): a typed method for every
call the flows make, over one pooled HTTP connection set per process (a new connection per call cost a TCP
handshake on every action, and under load left sockets in TIME_WAIT). aiohttp, not httpx: with several turns in
flight httpx spent 1.1-2.0 ms of CPU a request in its pool, aiohttp 0.13-0.18 ms (bench/http_client_bench.py)."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from json import loads
from typing import Any, Generic, TypedDict, TypeVar

import aiohttp

T = TypeVar("T")
log = logging.getLogger("urp.actions.crm")


class CrmUnavailable(Exception):
    """The CRM is down, slow or answered 5xx: the action apologises in Italian and nothing is lost."""


@dataclass(frozen=True)
class Reply(Generic[T]):
    """A write's outcome: the status decides the wording (201 done, 409 taken, 422 refused with field reasons)."""

    status: int
    body: T | None
    error: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.body is not None

    def reasons(self) -> list[str]:
        """The CRM's per-field reasons of a 422 (English, for logs and decisions; never shown as they are)."""
        return [str(v) for v in (self.error.get("fields") or {}).values()]


class UrpOffice(TypedDict):
    name: str | None
    phone: str | None
    email: str | None
    address: str | None


class Desk(TypedDict):
    open: bool
    next_opening: str | None
    waiting: int
    typical_wait_minutes: int | None
    office_hours: str
    urp: UrpOffice


class KbHit(TypedDict, total=False):
    slug: str
    title: str
    score: float
    snippet: str
    passage: str  # the article's passages that answer the question, whole sentences, as Markdown
    url: str
    short_url: str
    topic: str
    offers: str | None  # "report": the article says to report a problem; the assistant offers the form instead


class KbSearch(TypedDict, total=False):
    answerable: bool
    results: list[KbHit]
    reason: str
    redirect: str | None


class Service(TypedDict, total=False):
    id: int
    slug: str
    name: str
    kind: str
    slot_minutes: int
    min_notice_hours: int
    cancel_deadline_hours: int
    form_schema: dict[str, Any] | None
    what_to_bring: str | None


class Slot(TypedDict, total=False):
    start: str
    end: str
    resource_id: int | None


class Booking(TypedDict, total=False):
    id: int
    code: str
    service_id: int
    service_name: str | None
    contact_id: int
    start: str
    end: str
    status: str
    what_to_bring: str | None
    cancel_deadline: str  # the look-up gives it; own bookings get it from the service
    cancellable: bool


class Ticket(TypedDict, total=False):
    id: int
    code: str
    status: str
    subject: str


class Instance(TypedDict, total=False):
    id: int
    code: str
    status: str
    protocol_number: str | None
    deadline_at: str | None
    deadline: str | None


class CrmClient:
    def __init__(self, base_url: str | None = None, token: str | None = None, timeout: float | None = None) -> None:
        self.base_url = (base_url or os.environ.get("URP_CRM_URL", "http://127.0.0.1:8000")).rstrip("/")
        self.token = token or os.environ.get("URP_SERVICE_TOKEN", "dev-service-token")
        # a slow CRM must not keep the citizen waiting: past this, the action apologises (URP_CRM_TIMEOUT seconds)
        self.timeout = timeout if timeout is not None else float(os.environ.get("URP_CRM_TIMEOUT", "15"))
        self._client: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_desk: Desk | None = None  # the URP's phone and hours stay quotable while the CRM is down

    def _http(self) -> aiohttp.ClientSession:
        """The process's pooled client (re-made if the event loop changed, e.g. between test runs). An idle
        connection is let go after 15 s, well before the CRM (Sanic: 120 s) would close it under a request."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client.closed or self._loop is not loop:
            self._client = aiohttp.ClientSession(
                base_url=self.base_url + "/",
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"Authorization": f"Bearer {self.token}"},
                connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=15),
            )
            self._loop = loop
        return self._client

    async def close(self) -> None:
        if self._client is not None and not self._client.closed:
            await self._client.close()
        self._client = None

    async def _call(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> tuple[int, Any]:
        # as httpx wrote them: None empty (never dropped: a filter left out would widen the list), booleans lowercase
        query = {
            k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for k, v in (params or {}).items()
        }
        try:
            async with self._http().request(method, "api/v1" + path, headers=headers, params=query, json=json) as r:
                status, raw = r.status, await r.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("CRM unreachable on %s %s: %s", method, path.split("?")[0], type(exc).__name__)
            raise CrmUnavailable(type(exc).__name__) from None
        if status >= 500:
            log.warning("CRM answered %s on %s %s", status, method, path.split("?")[0])
            raise CrmUnavailable(f"HTTP {status}")
        try:
            return status, loads(raw) if raw else None
        except ValueError:
            return status, None

    async def _reply(self, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Reply[Any]:
        status, body = await self._call(method, path, headers=headers, **kw)
        error = (body or {}).get("error") if isinstance(body, dict) else None
        return Reply(status=status, body=body if 200 <= status < 300 else None, error=error or {})

    async def _items(self, path: str, **params: Any) -> list[Any]:
        status, body = await self._call("GET", path, params=params)
        return list(body.get("items", [])) if status == 200 and isinstance(body, dict) else []

    # --- the desk -----------------------------------------------------------------------------------------------
    async def desk(self) -> Desk:
        """Is the URP open now, when does it open next, how many wait and for how long; its phone and hours."""
        status, body = await self._call("GET", "/desk")
        if status != 200 or not isinstance(body, dict):
            raise CrmUnavailable(f"HTTP {status}")
        self.last_desk = body  # type: ignore[assignment]
        return body  # type: ignore[return-value]

    async def urp_contacts(self) -> Desk | None:
        """The desk for its phone and hours: fresh when the CRM answers, else the last known, else None."""
        try:
            return await self.desk()
        except CrmUnavailable:
            return self.last_desk

    async def handoff(
        self, conversation_id: int, summary: str, context: dict[str, Any], topic: str | None = None
    ) -> bool:
        status, _ = await self._call(
            "POST",
            f"/conversations/{conversation_id}/handoff",
            json={"summary": summary[:2000], "context": context, "topic": topic},
        )
        return status == 200

    async def capture_identity(self, contact_id: int, details: dict[str, Any]) -> Reply[Any]:
        """What the citizen said about themselves in a form (first_name, last_name, fiscal_code, phone, email): the
        CRM fills the contact's empty details and keeps differing ones for an operator to resolve."""
        keys = ("first_name", "last_name", "fiscal_code", "phone", "email")
        body = {k: details[k] for k in keys if details.get(k)}
        return await self._reply("POST", f"/contacts/{int(contact_id)}/captured", json=body)

    # --- knowledge base -----------------------------------------------------------------------------------------
    async def kb_search(
        self, q: str, *, k: int = 3, channel: str = "", context: str | None = None, probe: bool = False
    ) -> KbSearch:
        """``context``: the slug of the article the citizen was just answered with (a follow-up question); ``probe``:
        the search only checks whether an article overrides another reply, so an unanswered one is not a gap."""
        params: dict[str, Any] = {"q": q[:500], "k": k, "channel": channel}
        if context:
            params["context"] = context
        if probe:
            params["probe"] = "true"
        status, body = await self._call("GET", "/kb/search", params=params)
        if status != 200 or not isinstance(body, dict):
            return {"answerable": False, "results": [], "reason": f"HTTP {status}"}
        return body  # type: ignore[return-value]

    async def kb_feedback(self, slug: str | None, query: str, helpful: bool, conversation_id: int | None) -> None:
        await self._call(
            "POST",
            "/kb/feedback",
            json={"slug": slug, "query": query[:500], "helpful": helpful, "conversation_id": conversation_id},
        )

    # --- requests (segnalazioni) --------------------------------------------------------------------------------
    async def file_request(
        self,
        *,
        contact_id: int,
        kind: str,
        topic: str,
        channel: str,
        subject: str,
        description: str,
        conversation_id: int | None,
        priority: str = "media",
    ) -> Reply[Ticket]:
        return await self._reply(
            "POST",
            "/requests",
            json={
                "contact_id": contact_id,
                "kind": kind,
                "topic": topic,
                "channel": channel,
                "subject": subject[:200],
                "description": description,
                "conversation_id": conversation_id,
                "priority": priority,
            },
        )

    async def find_request(self, code: str, contact_id: int) -> Ticket | None:
        """The contact's own request with this code (None for anyone else's: nothing leaks)."""
        items = await self._items("/requests", q=code, contact_id=contact_id)
        return next((i for i in items if str(i.get("code", "")).upper() == code.upper()), None)

    # --- istanze ------------------------------------------------------------------------------------------------
    async def submit_instance(
        self, *, type_slug: str, contact_id: int, channel: str, data: dict[str, Any]
    ) -> Reply[Instance]:
        return await self._reply(
            "POST", "/instances", json={"type": type_slug, "contact_id": contact_id, "channel": channel, "data": data}
        )

    async def find_instance(self, code: str, contact_id: int) -> Instance | None:
        items = await self._items("/instances", contact_id=contact_id, limit=200)
        return next((i for i in items if str(i.get("code", "")).upper() == code.upper()), None)

    async def lookup_instance(self, code: str, second_factor: str, caller: str) -> Reply[Instance]:
        """Citizen look-up by code plus a second factor; the caller key lets the CRM throttle a guesser."""
        return await self._reply(
            "POST",
            "/instances/lookup",
            json={"code": code, "second_factor": second_factor},
            headers={"X-Citizen-Key": caller},
        )

    # --- booking centre -----------------------------------------------------------------------------------------
    async def services(self) -> list[Service]:
        return await self._items("/services")

    async def service(self, service_id: int) -> Service | None:
        status, body = await self._call("GET", f"/services/{int(service_id)}")
        return body if status == 200 and isinstance(body, dict) else None  # type: ignore[return-value]

    async def availability(self, service_id: int, d_from: str, d_to: str) -> list[Slot]:
        return await self._items(f"/services/{int(service_id)}/availability", **{"from": d_from, "to": d_to})

    async def book(
        self,
        *,
        service_id: int,
        start: str,
        contact_id: int,
        fields: dict[str, Any],
        channel: str,
        resource_id: int | None,
        idempotency_key: str,
    ) -> Reply[Booking]:
        body: dict[str, Any] = {
            "service_id": int(service_id),
            "start": start,
            "contact_id": contact_id,
            "fields": fields,
            "channel": channel,
        }
        if resource_id is not None:
            body["resource_id"] = resource_id
        return await self._reply("POST", "/bookings", json=body, headers={"Idempotency-Key": idempotency_key})

    async def bookings_of(self, contact_id: int) -> list[Booking]:
        return await self._items("/bookings", contact_id=contact_id)

    async def active_bookings(self, contact_id: int) -> list[Booking]:
        """The contact's confirmed bookings, soonest first ([] when the CRM has none to give)."""
        return sorted(
            (b for b in await self.bookings_of(contact_id) if b.get("status") == "confirmed"),
            key=lambda b: b.get("start", ""),
        )

    async def find_booking(self, code: str, contact_id: int) -> Booking | None:
        items = await self._items("/bookings", contact_id=contact_id, limit=200)
        return next((i for i in items if str(i.get("code", "")).upper() == code.upper()), None)

    async def lookup_booking(self, code: str, second_factor: str, caller: str) -> Reply[Booking]:
        """A booking by code plus a second factor, for someone writing from a channel that is not their own."""
        return await self._reply(
            "POST",
            "/bookings/lookup",
            json={"code": code, "second_factor": second_factor},
            headers={"X-Citizen-Key": caller},
        )

    async def cancel_booking(self, booking_id: int, reason: str) -> Reply[Booking]:
        return await self._reply("POST", f"/bookings/{int(booking_id)}/cancel", json={"reason": reason})


crm = CrmClient()  # one per process: its connection pool is shared by every action

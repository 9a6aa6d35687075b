"""Protocol registration behind one interface: the built-in local register, or an external system over HTTP."""

from __future__ import annotations

from typing import Protocol

import httpx
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.instances.models import Instance, ProtocolCounter


class ProtocolUnavailable(Exception):
    pass


class ProtocolAdapter(Protocol):
    immediate: bool  # True: number issued inside the submission's transaction; False: through the outbox

    async def register(self, session: AsyncSession, instance: Instance, year: int) -> str: ...


class LocalRegister:
    """YYYY/NNNNNN, unique and gapless per ente and year: the counter row is updated in the caller's transaction
    (row lock on PostgreSQL, database lock on SQLite), so a rolled-back submission never consumes a number."""

    immediate = True

    async def register(self, session: AsyncSession, instance: Instance, year: int) -> str:
        for _ in range(3):
            result = await session.execute(
                update(ProtocolCounter)
                .where(ProtocolCounter.ente_id == instance.ente_id, ProtocolCounter.year == year)
                .values(last=ProtocolCounter.last + 1)
                .returning(ProtocolCounter.last)
            )
            number = result.scalar()
            if number is not None:
                return f"{year}/{number:06d}"
            try:
                async with session.begin_nested():
                    await session.execute(insert(ProtocolCounter).values(ente_id=instance.ente_id, year=year, last=0))
            except IntegrityError:
                pass  # another submission created the year's row first: increment it
        raise RuntimeError("could not allocate a protocol number")


class HttpProtocol:
    """An external protocol system: POST {url}/registrations with an idempotency key (the istanza code), so a retry
    after a timeout can never number the same istanza twice."""

    immediate = False

    def __init__(self, url: str, token: str | None, timeout: float = 10.0) -> None:
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout

    async def register(self, session: AsyncSession, instance: Instance, year: int) -> str:
        headers = {"Idempotency-Key": f"{instance.ente_id}-{instance.code}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        payload = {"code": instance.code, "year": year, "subject": instance.data.get("subject") or instance.code}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as c:
                r = await c.post(f"{self.url}/registrations", json=payload, headers=headers)
        except httpx.HTTPError as exc:
            raise ProtocolUnavailable(type(exc).__name__) from None
        if r.status_code >= 300:
            raise ProtocolUnavailable(f"HTTP {r.status_code}")
        number = (r.json() or {}).get("protocol_number")
        if not number:
            raise ProtocolUnavailable("no protocol_number in the answer")
        return str(number)


def adapter_from_settings(settings: object) -> ProtocolAdapter:
    url = getattr(settings, "protocol_url", None)
    if url:
        token = getattr(settings, "protocol_token", None)
        return HttpProtocol(url, token.get_secret_value() if token else None)
    return LocalRegister()

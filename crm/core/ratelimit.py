"""A small database-backed rate limiter, shared by every replica that uses the same database.

Each counted event is one row ``(key, expires_at)`` in ``rate_limit_hits``; a key is over its limit while it has at
least ``max_hits`` rows that have not expired. Callers check and record inside their own transaction::

    limits = [Limit(f"instances.lookup:code:{ente_id}:{code}", 5, timedelta(minutes=15))]
    await ratelimit.check(session, limits)       # 429 TooManyRequests when one is exhausted
    ...
    await ratelimit.hit(session, limits)         # count a failure (commit it even if the request then fails)

On PostgreSQL the keys are serialised with transaction-scoped advisory locks, so concurrent attempts on one key
from several replicas cannot all slip through on the same count; on SQLite writers are serialised already.
Expired rows are pruned opportunistically by ``hit``. Keys may carry personal data (a sender id): pass them
through ``digest`` first.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Index, String, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from crm.core.errors import TooManyRequests
from crm.db import Base, IdMixin, utcnow

PRUNE_CHANCE = 0.05  # share of ``hit`` calls that also delete expired rows (all keys)
PRUNE_BATCH = 1000


class RateLimitHit(IdMixin, Base):
    """One counted event for a limiter key; meaningless once ``expires_at`` has passed. Created by the
    ``instances_0002`` migration."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_key_expires_at", "key", "expires_at"),)

    key: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(index=True)


@dataclass(frozen=True)
class Limit:
    key: str
    max_hits: int
    window: timedelta
    message: str = "too many attempts; try again later"

    def __post_init__(self) -> None:
        if len(self.key) > 200:
            raise ValueError("rate limit key longer than 200 characters")
        if self.max_hits < 1 or self.window <= timedelta(0):
            raise ValueError("max_hits must be >= 1 and window > 0")


def digest(value: str) -> str:
    """A stable, non-reversible stand-in for a key part that may be personal data (phone numbers, sender ids)."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


async def _lock(session: AsyncSession, limits: Sequence[Limit]) -> None:
    if session.bind.dialect.name != "postgresql":
        return
    for key in sorted({lim.key for lim in limits}):  # a fixed order: no deadlock between two multi-key callers
        h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:h)"), {"h": h})


async def count(session: AsyncSession, key: str, *, now: datetime | None = None) -> int:
    now = now or utcnow()
    n = await session.scalar(
        select(func.count()).select_from(RateLimitHit).where(RateLimitHit.key == key, RateLimitHit.expires_at > now)
    )
    return int(n or 0)


async def check(session: AsyncSession, limits: Sequence[Limit], *, now: datetime | None = None) -> None:
    """Raise ``TooManyRequests`` (with a Retry-After) if any limit is exhausted. On PostgreSQL the keys stay locked
    until the caller's transaction ends, so check, work and ``hit`` are atomic per key across replicas."""
    now = now or utcnow()
    await _lock(session, limits)
    for lim in limits:
        n = await count(session, lim.key, now=now)
        if n >= lim.max_hits:
            # the count falls below the limit when the (n - max_hits + 1)-th oldest hit expires
            frees_at = await session.scalar(
                select(RateLimitHit.expires_at)
                .where(RateLimitHit.key == lim.key, RateLimitHit.expires_at > now)
                .order_by(RateLimitHit.expires_at)
                .offset(n - lim.max_hits)
                .limit(1)
            )
            wait = max(1, math.ceil(((frees_at or now + lim.window) - now).total_seconds()))
            raise TooManyRequests(lim.message, headers={"Retry-After": str(wait)})


async def hit(
    session: AsyncSession, limits: Sequence[Limit], *, now: datetime | None = None, prune_chance: float = PRUNE_CHANCE
) -> None:
    """Count one event against each limit; now and then delete expired rows of every key."""
    now = now or utcnow()
    await _lock(session, limits)
    session.add_all([RateLimitHit(key=lim.key, expires_at=now + lim.window) for lim in limits])
    await session.flush()
    if prune_chance > 0 and random.random() < prune_chance:
        await prune(session, now=now)


async def prune(session: AsyncSession, *, now: datetime | None = None, batch: int = PRUNE_BATCH) -> int:
    """Delete up to ``batch`` expired hits (bounded, so a request never pays for a large backlog)."""
    now = now or utcnow()
    ids = select(RateLimitHit.id).where(RateLimitHit.expires_at <= now).limit(batch)
    result = await session.execute(delete(RateLimitHit).where(RateLimitHit.id.in_(ids)))
    return int(getattr(result, "rowcount", 0) or 0)


async def clear(session: AsyncSession, key: str) -> None:
    """Forget the hits of one key (e.g. an admin unblocking it). Never call it with a key shared with other callers
    on someone's success: that would reset their counter too."""
    await session.execute(delete(RateLimitHit).where(RateLimitHit.key == key))

"""Live events between processes: console screens and web-chat sockets subscribe, services publish.

Embedded default: in-process queues (one server process). At scale (``URP_REDIS_URL``): Redis pub/sub, so an
operator's reply handled by replica A reaches the citizen's web socket held by replica B.
Events are hints to refresh ("conversation 12 changed"), never the only copy of data: the database is.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol


class PubSub(Protocol):
    async def publish(self, channel: str, event: dict[str, Any]) -> None: ...

    def subscribe(self, *channels: str) -> Any:
        """``async with pubsub.subscribe("ente:1") as events: async for event in events: ...``"""
        ...

    async def close(self) -> None: ...


class MemoryPubSub:
    def __init__(self) -> None:
        self._subs: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        for q in list(self._subs.get(channel, ())):
            if q.qsize() < 1000:  # a stuck subscriber must not grow memory without bound
                q.put_nowait({"channel": channel, **event})

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for ch in channels:
            self._subs[ch].add(q)

        async def events() -> AsyncIterator[dict[str, Any]]:
            while True:
                yield await q.get()

        try:
            yield events()
        finally:
            for ch in channels:
                self._subs[ch].discard(q)

    async def close(self) -> None:
        self._subs.clear()


class RedisPubSub:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url, decode_responses=True)
        # Redis pub/sub ignores the database number: two installations sharing a server on /0 and /1 would hear
        # each other's "ente:1". The number is part of the channel name, so one database is one installation
        db = self._redis.connection_pool.connection_kwargs.get("db", 0)
        self._prefix = f"urp:{db}:"

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        await self._redis.publish(self._prefix + channel, json.dumps({"channel": channel, **event}))

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        ps = self._redis.pubsub(ignore_subscribe_messages=True)
        await ps.subscribe(*(self._prefix + c for c in channels))

        async def events() -> AsyncIterator[dict[str, Any]]:
            async for msg in ps.listen():
                if msg.get("type") == "message":
                    yield json.loads(msg["data"])

        try:
            yield events()
        finally:
            await ps.unsubscribe()
            await ps.aclose()

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()


def make_pubsub(redis_url: str | None) -> PubSub:
    return RedisPubSub(redis_url) if redis_url else MemoryPubSub()

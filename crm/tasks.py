"""Work that no client can cut short, and the server's background tasks, finished or handed back at shutdown.

A web-socket handler is cancelled when the citizen closes the tab, a webhook handler when the provider hangs up.
Cancelled half-way through a database transaction or between "sent" and "recorded", they used to leave messages
acknowledged and never stored, SQLite connections holding the write lock until garbage collection, and replies
sent again. What must not be cut runs through ``uncancellable``: in its own task, to its end, and only then is the
caller's cancellation raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger("urp.tasks")
T = TypeVar("T")

_running: set[asyncio.Task[Any]] = set()  # every uncancellable task of this process, for the shutdown to wait on


async def uncancellable(aw: Awaitable[T]) -> T:
    """Await ``aw`` to its end even if the caller is cancelled meanwhile; then re-raise the cancellation."""
    task = asyncio.ensure_future(aw)
    _running.add(task)
    task.add_done_callback(_running.discard)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.cancelled():  # the work itself was cancelled (the shutdown's last resort)
                raise
            cancelled = True
            if task.done():  # it ended just as the caller was cancelled
                result = task.result()
                break
    if cancelled:
        raise asyncio.CancelledError
    return result


async def drain(timeout: float) -> int:
    """Wait (bounded) for every uncancellable task still running; returns how many were left unfinished."""
    pending = {t for t in _running if not t.done()}
    if pending:
        await asyncio.wait(pending, timeout=timeout)
    return sum(1 for t in pending if not t.done())


class Background:
    """The server's own long-running tasks (turn workers, scheduler, index warm-up), kept out of Sanic's task
    registry: Sanic's shutdown polls that registry in a loop that spins at full CPU while a task is still pending
    (its float countdown never reaches exactly zero, and outside the running loop it never sleeps). These are
    cancelled and awaited in ``before_server_stop``, so nothing is left for it."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def stop(self, timeout: float = 5.0) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)


def finishing_protocol() -> type:
    """Sanic's HTTP protocol, except that a client hanging up does not cancel its request's handler: the handler
    finishes (its transaction commits or rolls back whole, its send is recorded) and the answer is dropped. Sanic
    cancels the handler's task by default; cut inside SQLAlchemy's aiosqlite adapter, a transaction could leave a
    connection holding SQLite's write lock. Web sockets keep Sanic's behaviour (their handler protects its own work)."""
    from sanic.server.protocols.websocket_protocol import WebSocketProtocol

    class FinishingProtocol(WebSocketProtocol):
        def connection_lost(self, exc: Exception | None) -> None:
            if self.websocket is not None:
                super().connection_lost(exc)
                return
            task, self._task = self._task, None
            try:
                super().connection_lost(exc)
            finally:
                self._task = task

    return FinishingProtocol

"""The real app in the test's own event loop, and a driver that cancels a coroutine at its n-th await point.

``running(env)`` builds the app with ``create_app`` and runs its start and stop listeners, so the handlers can be
called directly and cut wherever we like; ``drive(coro, cancel_at=n)`` steps a coroutine the way asyncio's Task
does and, at its n-th suspension, cancels what it awaits and throws CancelledError into it, exactly like a client
that disconnects at that moment. The app's own tasks (turns, sends) run on the loop as they do in the server.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import os
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sanic import Sanic
from sanic.compat import Header
from sanic.request import Request

_names = itertools.count()


async def _call(listener: Any, app: Sanic) -> None:
    params = inspect.signature(listener).parameters
    result = listener(app, asyncio.get_running_loop()) if len(params) >= 2 else listener(app)
    if inspect.isawaitable(result):
        await result


def app_env(tmp_path: Path, url: str, default_ente: str) -> dict[str, str]:
    """The environment of an app run in the test's loop with nothing else around it: no scheduler (the test calls
    what it needs), no KB warm-up, and a Rasa address where nothing listens."""
    from tests.conftest import ACTIONS_SECRET, SECRET, SERVICE_TOKEN, free_port

    return {
        "URP_ENV": "test",
        "URP_DATABASE_URL": url,
        "URP_SECRET_KEY": SECRET,
        "URP_SERVICE_TOKEN": SERVICE_TOKEN,
        "URP_ACTIONS_SECRET": ACTIONS_SECRET,
        "URP_SCHEDULER": "false",
        "URP_KB_WARM_UP": "false",
        "URP_VAR_DIR": str(tmp_path / "var"),
        "URP_DEFAULT_ENTE": default_ente,
        "URP_RASA_URL": f"http://127.0.0.1:{free_port()}",
    }


@asynccontextmanager
async def running(env: dict[str, str]) -> AsyncIterator[Sanic]:
    """The app configured by ``env`` (URP_* and the providers' variables), started and, at the end, stopped."""
    from channels.config import get_channel_settings
    from crm.app import create_app
    from crm.config import Settings

    saved = dict(os.environ)
    os.environ.update(env)
    get_channel_settings.cache_clear()
    try:
        app = create_app(Settings(), name=f"inproc_{os.getpid()}_{next(_names)}")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    listeners = {
        event: [f.listener for f in app._future_listeners if str(f.event) == event]
        for event in ("before_server_start", "after_server_start", "before_server_stop")
    }
    for listener in listeners["before_server_start"] + listeners["after_server_start"]:
        await _call(listener, app)
    try:
        yield app
    finally:
        for listener in reversed(listeners["before_server_stop"]):
            if getattr(listener, "__name__", "") != "_cancel_websocket_tasks":
                await _call(listener, app)
        get_channel_settings.cache_clear()


def request(app: Sanic, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None) -> Request:
    req = Request(path.encode(), Header(headers or {}), "1.1", method, None, app)  # type: ignore[arg-type]
    req.body = body
    return req


async def drive(coro: Coroutine[Any, Any, Any], cancel_at: int | None = None) -> tuple[str, int]:
    """Run ``coro`` to its end, cancelling it at its ``cancel_at``-th await point (1-based). Returns ("done" |
    "cancelled" | "error:<type>", how many times it suspended)."""
    points = 0
    throw: BaseException | None = None
    while True:
        try:
            awaited = coro.throw(throw) if throw is not None else coro.send(None)
        except StopIteration:
            return "done", points
        except asyncio.CancelledError:
            return "cancelled", points
        except Exception as exc:  # noqa: BLE001 - reported to the test
            return f"error:{type(exc).__name__}", points
        throw = None
        points += 1
        if points == cancel_at:
            if os.environ.get("URP_DRIVE_TRACE"):
                chain, c = [], coro
                while c is not None and hasattr(c, "cr_frame") or hasattr(c, "ag_frame"):
                    f = getattr(c, "cr_frame", None) or getattr(c, "ag_frame", None)
                    if f is not None:
                        chain.append(f"{f.f_code.co_filename.rsplit('/', 2)[-1]}:{f.f_lineno} {f.f_code.co_name}")
                    c = getattr(c, "cr_await", None) or getattr(c, "ag_await", None)
                print("cut at", points, " <- ".join(chain), flush=True)
            # what Task.cancel() does: the awaited future is cancelled and the coroutine gets CancelledError
            if awaited is not None and hasattr(awaited, "cancel"):
                awaited.cancel()
            throw = asyncio.CancelledError()
            continue
        if awaited is None:  # a bare yield (asyncio.sleep(0))
            await asyncio.sleep(0)
            continue
        awaited._asyncio_future_blocking = False
        await asyncio.wait([awaited])


class FakeSocket:
    """The client side of the widget's socket: sends ``frames`` (None = the client closes), records what it gets."""

    def __init__(self, frames: list[dict[str, Any] | None]) -> None:
        self.inbox: asyncio.Queue[str | None] = asyncio.Queue()
        for f in frames:
            self.inbox.put_nowait(None if f is None else json.dumps(f))
        self.sent: list[dict[str, Any]] = []
        self.closed = False

    async def recv(self) -> str | None:
        item = await self.inbox.get()
        if item is None:
            raise ConnectionError("client closed")
        return item

    async def send(self, data: str) -> None:
        if self.closed:
            raise ConnectionError("client closed")
        self.sent.append(json.loads(data))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True

    def __aiter__(self) -> FakeSocket:
        return self

    async def __anext__(self) -> str:
        item = await self.inbox.get()
        if item is None:
            self.closed = True
            raise StopAsyncIteration
        return item

from __future__ import annotations

import asyncio
import json

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from crm.core.auth import STAFF, authorized, principal_of
from crm.core.openapi import openapi

bp = Blueprint("events", url_prefix="/api/v1")
KEEPALIVE_SECONDS = 15


@bp.get("/events")
@authorized(*STAFF)
@openapi(
    summary="Server-sent events for the caller's ente (conversation/request changes), for live screens",
    media=("text/event-stream",),
)
async def events(request: Request) -> HTTPResponse | None:
    p = principal_of(request)
    response = await request.respond(
        content_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    async with request.app.ctx.pubsub.subscribe(f"ente:{p.ente_id}") as stream:
        # subscribed before the client hears "connected" (its EventSource 'open'): a screen that refreshes on open
        # and then listens misses no event published in between
        await response.send(": connected\n\n")
        iterator = stream.__aiter__()
        # one pending read survives the keep-alives: wait_for cancelled it at each timeout, which closes the
        # subscription's async generator, so after 15 quiet seconds the stream ended (StopAsyncIteration, an error
        # in the log) and the screen had to reconnect, missing what was published meanwhile
        pending: asyncio.Future[dict[str, object]] = asyncio.ensure_future(iterator.__anext__())
        try:
            while True:
                done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECONDS)
                if not done:
                    await response.send(": keep-alive\n\n")
                    continue
                try:
                    event = pending.result()
                except StopAsyncIteration:
                    break
                pending = asyncio.ensure_future(iterator.__anext__())
                event.pop("channel", None)
                await response.send(f"event: {event.get('type', 'message')}\ndata: {json.dumps(event)}\n\n")
        finally:
            pending.cancel()
    return None

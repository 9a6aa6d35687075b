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
        while True:
            try:
                event = await asyncio.wait_for(iterator.__anext__(), timeout=KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.send(": keep-alive\n\n")
                continue
            event.pop("channel", None)
            await response.send(f"event: {event.get('type', 'message')}\ndata: {json.dumps(event)}\n\n")
    return None

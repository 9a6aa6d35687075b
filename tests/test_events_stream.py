"""The console's live stream (GET /api/v1/events) outlives its keep-alives: each quiet 15 s used to cancel the pending
read, which closed the subscription, so the stream ended after the first keep-alive and a change made then reached
no screen until it reconnected."""

from __future__ import annotations

import time

import httpx

from crm.events.api import KEEPALIVE_SECONDS
from tests.conftest import Server
from tests.parity.harness import EventStream


def test_a_change_after_a_keep_alive_still_arrives(server: Server, client: httpx.Client, ente_ctx) -> None:  # type: ignore[no-untyped-def]
    stream = EventStream(server.url, ente_ctx.headers("admin"))
    try:
        time.sleep(KEEPALIVE_SECONDS + 2)  # one keep-alive has gone out
        assert stream._thread.is_alive(), "the event stream ended at its first keep-alive"
        before = len(stream.events)
        r = client.post(
            "/api/v1/contacts",
            json={"first_name": "Ada", "last_name": "Lovelace"},
            headers=ente_ctx.headers("operator"),
        )
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 10
        while len(stream.events) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(stream.events) > before, "no event reached the stream after a keep-alive"
    finally:
        stream.close()

"""Live events: one replica with in-process pub/sub, and two replicas sharing Redis (the at-scale path)."""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server, start_server

REDIS_URL = os.environ.get("URP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _listen(url: str, headers: dict[str, str], out: queue.Queue[dict], ready: threading.Event) -> None:
    with httpx.stream("GET", url + "/api/v1/events", headers=headers, timeout=httpx.Timeout(30, read=60)) as r:
        event = None
        for line in r.iter_lines():
            if line.startswith(": connected"):
                ready.set()
            elif line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "conversation":  # the set-up's contact has its own event
                out.put({"event": event, **json.loads(line[5:])})
                return


def _watch(url: str, headers: dict[str, str]) -> queue.Queue[dict]:
    out: queue.Queue[dict] = queue.Queue()
    ready = threading.Event()
    threading.Thread(target=_listen, args=(url, headers, out, ready), daemon=True).start()
    assert ready.wait(20), "event stream did not open"
    return out


def _handoff(client: httpx.Client, ente_ctx, db) -> int:  # type: ignore[no-untyped-def]
    from crm.conversations import service

    cid = client.post("/api/v1/contacts", json={"first_name": "Eva"}, headers=ente_ctx.headers("operator")).json()["id"]

    async def work(s):  # type: ignore[no-untyped-def]
        conv, _, _ = await service.record_inbound(
            s,
            ente_id=ente_ctx.ente_id,
            contact_id=cid,
            channel="web",
            text="operatore per favore",
            channel_message_id=None,
        )
        return conv.id

    conv_id = db.run(work)
    r = client.post(
        f"/api/v1/conversations/{conv_id}/handoff", json={"topic": "urp"}, headers=ente_ctx.headers("service")
    )
    assert r.status_code == 200
    return conv_id


def test_single_process_events(server: Server, client: httpx.Client, ente_ctx, other_ente, db) -> None:
    mine = _watch(server.url, ente_ctx.headers("operator"))
    theirs = _watch(server.url, other_ente.headers("operator"))
    conv_id = _handoff(client, ente_ctx, db)
    event = mine.get(timeout=20)
    audit_id = event.pop("audit_id")  # the audit line the change left (crm.core.commands)
    assert isinstance(audit_id, int)
    assert event == {
        "event": "conversation",
        "type": "conversation",
        "id": conv_id,
        "mode": "waiting",
        "topic": "urp",
        "action": "handoff",
    }
    with pytest.raises(queue.Empty):
        theirs.get(timeout=1)  # another ente hears nothing


@pytest.fixture(scope="module")
def replicas(base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL).ping()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    env = {**base_env, "URP_REDIS_URL": REDIS_URL}
    logs = tmp_path_factory.mktemp("replicas")
    a, b = start_server(env, logs / "a.log"), start_server(env, logs / "b.log")
    yield a, b
    for s in (a, b):
        s.proc.terminate()
        s.proc.wait(timeout=10)


def test_two_replicas_share_events_through_redis(replicas: tuple[Server, Server], ente_ctx, db) -> None:
    a, b = replicas
    assert httpx.get(b.url + "/health").json()["components"]["pubsub"] == {"status": "ok", "backend": "redis"}
    events_on_b = _watch(b.url, ente_ctx.headers("operator"))
    with httpx.Client(base_url=a.url) as on_a:
        conv_id = _handoff(on_a, ente_ctx, db)
    event = events_on_b.get(timeout=20)
    assert event["type"] == "conversation" and event["id"] == conv_id and event["mode"] == "waiting"
    # and the state is the same whichever replica answers: they are stateless
    with httpx.Client(base_url=b.url) as on_b:
        r = on_b.post(f"/api/v1/conversations/{conv_id}/take", headers=ente_ctx.headers("operator"))
        assert r.status_code == 200
    with httpx.Client(base_url=a.url) as on_a:
        assert (
            on_a.get(f"/api/v1/conversations/{conv_id}", headers=ente_ctx.headers("operator")).json()["mode"]
            == "assigned"
        )


async def test_redis_databases_are_separate_installations() -> None:
    """Redis pub/sub ignores the database number; the channel name carries it, so an installation on /N hears its
    own events only (two test passes, or two comuni, sharing one Redis server)."""
    import asyncio

    import redis

    from crm.pubsub import RedisPubSub

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    base = REDIS_URL.rsplit("/", 1)[0]
    mine, same, other = RedisPubSub(f"{base}/5"), RedisPubSub(f"{base}/5"), RedisPubSub(f"{base}/6")
    try:
        async with mine.subscribe("ente:1") as events:
            await asyncio.sleep(0.2)  # the SUBSCRIBE reached the server
            await other.publish("ente:1", {"type": "conversation", "from": "other"})
            await same.publish("ente:1", {"type": "conversation", "from": "same"})
            first = await asyncio.wait_for(events.__anext__(), timeout=5)
            assert first["from"] == "same" and first["channel"] == "ente:1"
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(events.__anext__(), timeout=0.5)
    finally:
        for p in (mine, same, other):
            await p.close()

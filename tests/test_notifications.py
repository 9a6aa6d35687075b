"""The notification outbox: queued once, routed to the preferred channel, retried with backoff, leased."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select, update

from crm.notifications.senders import LogSender, OutboundNotification, SendError


class FlakySender:
    """A real Sender implementation that fails the first ``failures`` sends (stands in for a provider outage)."""

    def __init__(self, channel: str, failures: int, permanent: bool = False) -> None:
        self.channel, self.failures, self.permanent = channel, failures, permanent
        self.calls: list[int] = []

    async def send(self, message: OutboundNotification) -> str:
        self.calls.append(message.id)
        if len(self.calls) <= self.failures:
            raise SendError("provider down", permanent=self.permanent)
        return f"prov-{message.id}"


def _contact(client: httpx.Client, ente_ctx, **body) -> int:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/contacts", json={"first_name": "Nora", **body}, headers=ente_ctx.headers("operator"))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _enqueue(db, ente_ctx, contact_id: int, key: str, channel: str | None = None):  # type: ignore[no-untyped-def]
    from crm.notifications import service

    async def work(s):  # type: ignore[no-untyped-def]
        n = await service.enqueue(
            s,
            ente_id=ente_ctx.ente_id,
            contact_id=contact_id,
            kind="test.event",
            text="Gentile cittadino, la sua pratica è stata aggiornata.",
            dedupe_key=key,
            channel=channel,
        )
        return None if n is None else (n.id, n.channel, n.address)

    return db.run(work)


def _row(db, nid: int):  # type: ignore[no-untyped-def]
    from crm.notifications.models import Notification

    async def work(s):  # type: ignore[no-untyped-def]
        return await s.scalar(select(Notification).where(Notification.id == nid))

    return db.run(work)


def test_routing_and_dedupe(client: httpx.Client, ente_ctx, db) -> None:
    cid = _contact(client, ente_ctx, phones=["+393331234567"], emails=["nora@example.it"], preferred_channel="email")
    first = _enqueue(db, ente_ctx, cid, f"k-{cid}")
    assert first[1:] == ("email", "nora@example.it")
    assert _enqueue(db, ente_ctx, cid, f"k-{cid}")[0] == first[0]  # same event, same row
    assert _enqueue(db, ente_ctx, cid, f"k2-{cid}", channel="sms")[1:] == ("sms", "+393331234567")
    # unreachable or opted-out citizens get nothing queued
    nobody = _contact(client, ente_ctx)
    assert _enqueue(db, ente_ctx, nobody, f"k-{nobody}") is None
    client.patch(f"/api/v1/contacts/{cid}", json={"consent_notifications": False}, headers=ente_ctx.headers("operator"))
    assert _enqueue(db, ente_ctx, cid, f"k3-{cid}") is None


def test_retry_with_backoff_then_sent_once(client: httpx.Client, ente_ctx, db) -> None:
    from crm.notifications.service import dispatch_due

    cid = _contact(client, ente_ctx, phones=["+393331234568"], preferred_channel="sms")
    nid = _enqueue(db, ente_ctx, cid, f"retry-{cid}")[0]
    flaky = FlakySender("sms", failures=2)
    assert db.call(lambda m: dispatch_due(m, {"sms": flaky}, ente_id=ente_ctx.ente_id)) == 0
    row = _row(db, nid)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "provider down")
    assert row.next_attempt_at > row.created_at + timedelta(seconds=25)
    # not due yet: nothing happens
    assert db.call(lambda m: dispatch_due(m, {"sms": flaky}, ente_id=ente_ctx.ente_id)) == 0 and flaky.calls == [nid]
    for _ in range(2):
        _make_due(db, nid)
        db.call(lambda m: dispatch_due(m, {"sms": flaky}, ente_id=ente_ctx.ente_id))
    row = _row(db, nid)
    assert (row.status, row.attempts, row.provider_id) == ("sent", 3, f"prov-{nid}")
    _make_due(db, nid)
    assert db.call(lambda m: dispatch_due(m, {"sms": flaky}, ente_id=ente_ctx.ente_id)) == 0
    assert flaky.calls == [nid, nid, nid]  # never sent again once sent


def _make_due(db, nid: int) -> None:  # type: ignore[no-untyped-def]
    from crm.db import utcnow
    from crm.notifications.models import Notification

    async def work(s):  # type: ignore[no-untyped-def]
        await s.execute(
            update(Notification).where(Notification.id == nid).values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )

    db.run(work)


def test_permanent_failure_and_lease(client: httpx.Client, ente_ctx, db) -> None:
    from crm.notifications.service import _claim, dispatch_due

    cid = _contact(client, ente_ctx, phones=["+393331234569"], preferred_channel="sms")
    nid = _enqueue(db, ente_ctx, cid, f"perm-{cid}")[0]
    # a dispatcher that claimed the row and died: another one must not take it while the lease holds
    claimed = db.call(lambda m: _claim(m, 10, ente_ctx.ente_id))
    assert [c.id for c in claimed] == [nid]
    assert db.call(lambda m: _claim(m, 10, ente_ctx.ente_id)) == []
    from crm.db import utcnow
    from crm.notifications.models import Notification

    async def expire(s):  # type: ignore[no-untyped-def]
        await s.execute(update(Notification).where(Notification.id == nid).values(lease_until=utcnow() - timedelta(1)))

    db.run(expire)
    bad = FlakySender("sms", failures=5, permanent=True)
    db.call(lambda m: dispatch_due(m, {"sms": bad}, ente_id=ente_ctx.ente_id))
    assert _row(db, nid).status == "failed" and bad.calls == [nid]


def test_log_sender_never_sees_more_than_ids(caplog) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import _run_in_thread

    sender = LogSender("sms")
    msg = OutboundNotification(7, 1, 1, "sms", "+393331112222", "", "Testo riservato del cittadino", "x")
    with caplog.at_level("INFO"):
        assert _run_in_thread(lambda: sender.send(msg)) == "log-7"  # a browser test may own this thread's loop
    assert "+39333" not in caplog.text and "riservato" not in caplog.text

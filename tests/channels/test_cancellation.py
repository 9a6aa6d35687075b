"""Nothing half-written: the webhook handlers and the web-chat socket handler cut at every await point (as a provider
hanging up or a citizen closing the tab cuts them), then the provider's retry. Every message is stored once and
answered once: one turn, every reply recorded once and sent once. A database transaction cut at every await point
leaves it all-or-nothing and leaves no connection holding the lock.

The app runs in the test's own event loop (tests/channels/inproc.py) beside the stack's real Rasa and action server,
against the same database, with the real twilio and python-telegram-bot clients and the fake providers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from sqlalchemy import func, select, text
from twilio.request_validator import RequestValidator

from tests.channels.conftest import TG_SECRET, TWILIO_FROM, TWILIO_TOKEN, Stack
from tests.channels.inproc import FakeSocket, drive, request, running
from tests.conftest import _run_in_thread

PUBLIC = "http://inproc.test"
COUNTS: dict[str, Any] = {}


def _env(stack: Stack) -> dict[str, str]:
    # no scheduler here: the stack's server runs the retries; this process's turns are all taken at once
    return {k: v for k, v in stack.crm.env.items() if k.startswith(("URP_", "TWILIO_", "TELEGRAM_"))} | {
        "URP_PUBLIC_URL": PUBLIC,
        "URP_SCHEDULER": "false",
    }


async def _settled(app: Any, channel: str, channel_message_id: str, timeout: float = 60) -> dict[str, Any]:
    """Once the message's turn is done and its replies are no longer pending or sending: what was stored."""
    from channels.models import TurnJob
    from crm.conversations.models import Message

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with app.ctx.read_sessionmaker() as s:
            inbound = (
                await s.scalars(
                    select(Message).where(Message.channel == channel, Message.channel_message_id == channel_message_id)
                )
            ).all()
            turns = (await s.scalars(select(TurnJob).where(TurnJob.message_id.in_([m.id for m in inbound])))).all()
            replies = (
                await s.scalars(
                    select(Message)
                    .where(
                        Message.conversation_id.in_([m.conversation_id for m in inbound]), Message.direction == "out"
                    )
                    .order_by(Message.id)
                )
            ).all()
        settled = (
            turns
            and all(t.state == "done" for t in turns)
            and all(r.delivery_status not in ("pending", "sending") for r in replies)
        )
        if settled or asyncio.get_running_loop().time() > deadline:
            return {
                "inbound": len(inbound),
                "turns": [(t.state, t.outcome) for t in turns],
                "replies": [(r.id, r.delivery_status, r.text) for r in replies],
                "conversation_id": inbound[0].conversation_id if inbound else None,
            }
        await asyncio.sleep(0.05)


async def _sweep(
    name: str, handler: Callable[[], Coroutine[Any, Any, Any]], check: Callable[[int], Coroutine[Any, Any, None]]
) -> dict[str, int]:
    """Cut a fresh message's handler at await point 1, 2, 3… until a run completes uncut; after each cut the same
    message comes again (the provider's retry, the widget's resend) and must end stored once and answered once."""
    cut, k = 0, 1
    while True:
        outcome, points = await drive(handler.__call__(k), cancel_at=k)
        if outcome == "done":
            await check(k)
            break
        assert outcome == "cancelled", outcome
        cut += 1
        retry, _ = await drive(handler.__call__(k))  # the retry, uncut
        assert retry == "done", retry
        await check(k)
        k += 1
        assert k < 200, "the handler never completed uncut"
    COUNTS[name] = {"await_points": k - 1, "cut_and_retried": cut}
    return COUNTS[name]


@pytest.fixture
def needs_rasa_here(stack: Stack) -> None:
    if stack.rasa_url is None:
        pytest.skip("Rasa not installed or no trained model (run `make train`)")


def test_telegram_webhook_cut_at_every_await_point(stack: Stack, needs_rasa_here: None) -> None:
    from channels.api import telegram_webhook

    base = 2_000_000 + uuid.uuid4().int % 10**6 * 10

    async def go() -> dict[str, int]:
        async with running(_env(stack)) as app:

            def handler(k: int) -> Coroutine[Any, Any, Any]:
                user = base + k
                update = {
                    "update_id": 800_000_000 + user,
                    "message": {
                        "message_id": 1,
                        "date": 1,
                        "chat": {"id": user, "type": "private"},
                        "from": {"id": user, "is_bot": False, "first_name": "Anna"},
                        "text": "buongiorno",
                    },
                }
                return telegram_webhook(
                    request(
                        app,
                        "POST",
                        "/channels/telegram/webhook",
                        body=json.dumps(update).encode(),
                        headers={"x-telegram-bot-api-secret-token": TG_SECRET, "content-type": "application/json"},
                    )
                )

            async def check(k: int) -> None:
                user = base + k
                got = await _settled(app, "telegram", str(800_000_000 + user))
                assert got["inbound"] == 1 and got["turns"] == [("done", "bot")], got
                assert got["replies"] and all(status == "sent" for _, status, _ in got["replies"]), got
                sent = [r["text"] for r in stack.telegram.requests if r["chat_id"] == user]
                # each reply sent once, in order (in Telegram's HTML parse mode: channels/render.py)
                from channels.render import to_telegram

                assert sent == [to_telegram(t) for _, _, t in got["replies"]], (sent, got)

            return await _sweep("telegram_webhook", handler, check)

    counts = _run_in_thread(go)
    assert counts["await_points"] >= 1


def test_sms_webhook_cut_at_every_await_point(stack: Stack, needs_rasa_here: None) -> None:
    from channels.api import twilio_sms

    tag = uuid.uuid4().hex[:8]

    async def go() -> dict[str, int]:
        async with running(_env(stack)) as app:

            def number(k: int) -> str:
                return f"+39349{(uuid.UUID(int=k + int(tag, 16)).int % 10**7):07d}"

            def handler(k: int) -> Coroutine[Any, Any, Any]:
                from urllib.parse import urlencode

                params = {
                    "From": number(k),
                    "To": TWILIO_FROM,
                    "Body": "buongiorno",
                    "FromCity": "",
                    "MessageSid": f"SMcut{tag}{k:04d}",
                    "AccountSid": "AC" + "1" * 32,
                }
                sig = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC + "/channels/twilio/sms", params)
                return twilio_sms(
                    request(
                        app,
                        "POST",
                        "/channels/twilio/sms",
                        body=urlencode(params).encode(),
                        headers={"x-twilio-signature": sig, "content-type": "application/x-www-form-urlencoded"},
                    )
                )

            async def check(k: int) -> None:
                from channels.twilio_sms import reply_parts
                from crm.conversations.models import Message

                got = await _settled(app, "sms", f"SMcut{tag}{k:04d}")
                assert got["inbound"] == 1 and got["turns"] == [("done", "bot")], got
                assert got["replies"] and all(status == "sent" for _, status, _ in got["replies"]), got
                async with app.ctx.read_sessionmaker() as s:
                    payloads = [(await s.get(Message, mid)).payload for mid, _, _ in got["replies"]]
                parts = [
                    p
                    for (_, _, t), pl in zip(got["replies"], payloads, strict=True)
                    for p in reply_parts(t, [_b(b) for b in (pl or {}).get("buttons", [])])
                ]
                sent = [r["Body"] for r in stack.twilio.requests if r.get("To") == number(k)]
                assert sent == parts, (sent, parts)

            return await _sweep("sms_webhook", handler, check)

    assert _run_in_thread(go)["await_points"] >= 1


def _b(b: dict[str, Any]) -> Any:
    from channels.base import Button

    return Button(b.get("title", ""), b.get("payload", ""))


def test_web_socket_cut_at_every_await_point(stack: Stack, needs_rasa_here: None) -> None:
    from channels.api import web_socket

    async def go() -> dict[str, int]:
        async with running(_env(stack)) as app:
            sessions: dict[int, str] = {}
            published: dict[str, list[dict[str, Any]]] = {}
            listeners: list[asyncio.Task[Any]] = []

            async def listen(session: str, ready: asyncio.Event) -> None:
                async with app.ctx.pubsub.subscribe(f"webchat:{session}") as events:
                    ready.set()
                    async for e in events:
                        published.setdefault(session, []).append(e)

            def handler(k: int) -> Coroutine[Any, Any, Any]:
                session = sessions.setdefault(k, str(uuid.uuid4()))
                sock = FakeSocket(
                    [
                        {"type": "hello", "session": session},
                        {"type": "message", "text": "buongiorno", "client_id": f"c{k}"},
                        None,
                    ]
                )
                return web_socket(request(app, "GET", "/channels/web/ws"), sock)  # type: ignore[arg-type]

            async def check(k: int) -> None:
                session = sessions[k]
                got = await _settled(app, "web", f"{session}:c{k}")
                assert got["inbound"] == 1 and got["turns"] == [("done", "bot")], got
                assert got["replies"] and all(status == "sent" for _, status, _ in got["replies"]), got
                await asyncio.sleep(0.1)
                shown = [e["id"] for e in published.get(session, []) if e.get("type") == "message"]
                assert shown == [mid for mid, _, _ in got["replies"]], (shown, got)  # each reply published once

            original = handler

            def handler_listening(k: int) -> Coroutine[Any, Any, Any]:
                async def both() -> Any:
                    session = sessions.setdefault(k, str(uuid.uuid4()))
                    if session not in published:
                        published[session] = []
                        ready = asyncio.Event()
                        listeners.append(asyncio.create_task(listen(session, ready)))
                        await ready.wait()
                    return await original(k)

                return both()

            try:
                return await _sweep("web_socket", handler_listening, check)
            finally:
                for t in listeners:
                    t.cancel()

    assert _run_in_thread(go)["await_points"] >= 1


def test_a_transaction_cut_at_every_await_point_is_all_or_nothing(db: Any, database_url: str) -> None:
    """The write lock and the pool come back clean whatever the await point; the rows are both there or neither.

    On SQLite a SELECT cut half-way left its cursor open, so closing the discarded connection only made it a zombie
    that kept the transaction and the write lock until garbage collection: the next writer failed "database is
    locked" (await point 8 here). ``crm.db`` now rolls back a connection before SQLAlchemy discards it."""
    from crm.db import make_engine, make_sessionmaker, transaction
    from crm.entes.models import Ente

    async def go() -> dict[str, int]:
        from sqlalchemy import event

        engine = make_engine(database_url)
        if engine.dialect.name == "sqlite":  # a held lock fails the next writer in 2 s, not after the 60 s default

            def short_busy_timeout(c: Any, _: Any) -> None:
                cur = c.cursor()
                cur.execute("PRAGMA busy_timeout=2000")
                cur.close()

            event.listen(engine.sync_engine, "connect", short_busy_timeout)
        maker = make_sessionmaker(engine)
        tag = uuid.uuid4().hex[:10]
        try:
            k, cut = 1, 0
            while True:

                async def work(k: int = k) -> None:
                    async with transaction(maker) as s:
                        s.add(Ente(slug=f"cut-{tag}-{k}-a", name="a"))
                        await s.flush()
                        await s.execute(text("SELECT 1"))
                        s.add(Ente(slug=f"cut-{tag}-{k}-b", name="b"))

                outcome, _ = await drive(work(), cancel_at=k)
                await asyncio.sleep(0.05)  # the shielded commit, rollback or close finishes in its own task
                assert engine.pool.checkedout() == 0, f"a connection was left checked out (cut at {k})"
                async with transaction(maker) as s:  # a writer gets in at once: no orphan holds the lock
                    n = await s.scalar(select(func.count()).select_from(Ente).where(Ente.slug.like(f"cut-{tag}-{k}-%")))
                assert n in (0, 2), f"half a transaction survived a cut at await point {k}"
                if outcome == "done":
                    assert n == 2
                    break
                cut += 1
                k += 1
            return {"await_points": k - 1, "cut": cut}
        finally:
            await engine.dispose()

    COUNTS["transaction"] = _run_in_thread(go)
    assert COUNTS["transaction"]["cut"] >= 3

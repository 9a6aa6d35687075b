"""Channels: where citizens' messages enter and replies leave (web chat, SMS via Twilio, Telegram; e-mail for
notifications). Each adapter verifies and normalises inbound traffic and sends outbound; ``hub.py`` routes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


def setup(app: Any) -> None:
    from channels import hub
    from channels.config import get_channel_settings
    from channels.email import EmailSender
    from channels.telegram import TelegramAdapter
    from channels.twilio_sms import TwilioSmsAdapter
    from channels.web import WebAdapter
    from crm.conversations.commands import OPERATOR_TYPING
    from crm.notifications.senders import SendError
    from crm.scheduler import register, served

    settings = get_channel_settings()
    app.ctx.channel_settings = settings
    sms, tg, web = TwilioSmsAdapter(settings), TelegramAdapter(settings), WebAdapter(app)
    app.ctx.adapters = {"sms": sms, "telegram": tg, "web": web}

    async def _close_telegram(app: Any) -> None:
        await tg.close()

    app.before_server_stop(_close_telegram)
    email = EmailSender(settings)

    class _Notify:
        """Notification outbox -> channel adapter."""

        def __init__(self, channel: str, fn: Callable[[Any], Awaitable[str]]) -> None:
            self.channel, self._fn = channel, fn

        async def send(self, n: Any) -> str:
            from channels.base import SendFailed

            try:
                return await self._fn(n)
            except SendFailed as exc:
                raise SendError(str(exc), permanent=exc.permanent) from None

    if sms.configured:
        app.ctx.senders["sms"] = _Notify("sms", sms.send_notification)
    if tg.configured:
        app.ctx.senders["telegram"] = _Notify("telegram", tg.send_notification)
    if email.configured:
        app.ctx.senders["email"] = email

    def _probe(name: str, adapter: Any) -> Any:
        async def probe(app: Any) -> dict[str, Any]:
            return {"status": "ok" if adapter.configured else "off"}

        return probe

    app.ctx.health["sms"] = _probe("sms", sms)
    app.ctx.health["telegram"] = _probe("telegram", tg)
    app.ctx.health["email"] = _probe("email", email)
    app.ctx.health["web_chat"] = _probe("web", web)

    # --- the conversation pipeline: Rasa's pooled client, the turn queue, the crash windows ----------------------
    from channels.queue import TurnQueue
    from channels.rasa_client import RasaClient
    from crm.tasks import uncancellable

    app_settings = app.ctx.settings
    app.ctx.rasa = RasaClient(
        app_settings.rasa_url,
        app_settings.rasa_token.get_secret_value() if app_settings.rasa_token else None,
        settings.rasa_timeout_seconds,
    )
    app.ctx.turns = TurnQueue(
        app,
        lambda ctx: hub.run_turn(app, ctx),
        lease_seconds=max(30.0, settings.rasa_timeout_seconds * 2),
        pace=app_settings.turn_concurrency,
        pace_seconds=app_settings.turn_slot_seconds,
    )
    app.ctx.crash_windows = hub.CrashWindows()

    async def rasa_probe(app: Any) -> dict[str, Any]:
        return {**await app.ctx.rasa.probe(), "url": app.ctx.settings.rasa_url}

    async def actions_probe(app: Any) -> dict[str, Any]:
        base = app.ctx.settings.actions_url.rstrip("/").removesuffix("/webhook")
        return {**await app.ctx.rasa.reachable(base + "/health"), "url": base}

    async def queue_probe(app: Any) -> dict[str, Any]:
        return {**await app.ctx.turns.health(), "crash_window_ms": app.ctx.crash_windows.summary()}

    app.ctx.health["rasa"] = rasa_probe
    app.ctx.health["action_server"] = actions_probe
    app.ctx.health["turn_queue"] = queue_probe

    async def _open_queue(app: Any) -> None:
        async def when_ready() -> None:
            # turns wait for what they need (the knowledge base's index): a message that arrives meanwhile is
            # stored, acknowledged and answered as soon as it is ready
            for event in list(app.ctx.readiness.values()):
                await event.wait()
            app.ctx.turns.open()

        app.ctx.background.spawn(when_ready(), name="turn-queue-open")

    app.after_server_start(_open_queue)

    async def stop_queue(app: Any, grace: float) -> None:
        await app.ctx.turns.stop(grace)
        await app.ctx.rasa.close()

    app.ctx.stop_hooks.append(stop_queue)

    # a conversation's messages leave in the order they were stored (the closing notice, then the rating question):
    # one send at a time per conversation; the signal's tasks start in dispatch order and the lock queues them fairly
    sending: dict[int, tuple[asyncio.Lock, int]] = {}

    async def _outbound(ente_id: int, message_id: int, conversation_id: int | None = None, **_: Any) -> None:
        # an operator's reply: sent and recorded to the end even at shutdown (drained within the grace period)
        if conversation_id is None:
            await uncancellable(hub.deliver(app, ente_id, message_id))
            return
        lock, users = sending.get(conversation_id, (asyncio.Lock(), 0))
        sending[conversation_id] = (lock, users + 1)
        try:
            async with lock:
                await uncancellable(hub.deliver(app, ente_id, message_id))
        finally:
            lock, users = sending[conversation_id]
            if users == 1:
                del sending[conversation_id]
            else:
                sending[conversation_id] = (lock, users - 1)

    app.signal("urp.message.outbound")(_outbound)

    async def _operator_typing(ente_id: int, conversation_id: int, **_: Any) -> None:
        await hub.operator_typing(app, ente_id, conversation_id)

    app.signal(OPERATOR_TYPING)(_operator_typing)

    async def retry(app: Any) -> None:
        for ente_id in served(app):
            await hub.retry_due(app, ente_id=ente_id)

    register("channel-retry", retry)

    async def files(app: Any) -> None:
        from channels import media

        for ente_id in served(app):
            await media.fetch_due(app, ente_id=ente_id)

    register("chat-files", files)

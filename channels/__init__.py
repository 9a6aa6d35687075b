"""Channels: where citizens' messages enter and replies leave (web chat, SMS via Twilio, Telegram; e-mail for
notifications). Each adapter verifies and normalises inbound traffic and sends outbound; ``hub.py`` routes."""

from __future__ import annotations

from typing import Any


def setup(app: Any) -> None:
    from channels import hub
    from channels.config import get_channel_settings
    from channels.email import EmailSender
    from channels.telegram import TelegramAdapter
    from channels.twilio_sms import TwilioSmsAdapter
    from channels.web import WebAdapter
    from crm.notifications.senders import SendError
    from crm.scheduler import register, served

    settings = get_channel_settings()
    app.ctx.channel_settings = settings
    sms, tg, web = TwilioSmsAdapter(settings), TelegramAdapter(settings), WebAdapter(app)
    app.ctx.adapters = {"sms": sms, "telegram": tg, "web": web}

    @app.before_server_stop
    async def _close_telegram(app: Any) -> None:
        await tg.close()
    email = EmailSender(settings)

    class _Notify:
        """Notification outbox -> channel adapter."""

        def __init__(self, channel: str, fn: Any) -> None:
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

    async def rasa_probe(app: Any) -> dict[str, Any]:
        import httpx

        try:
            async with httpx.AsyncClient(timeout=2) as c:
                r = await c.get(app.ctx.settings.rasa_url.rstrip("/") + "/")
            return {"status": "ok" if r.status_code == 200 else "error", "url": app.ctx.settings.rasa_url}
        except httpx.HTTPError:
            return {"status": "unreachable", "url": app.ctx.settings.rasa_url}

    app.ctx.health["rasa"] = rasa_probe

    @app.signal("urp.message.outbound")
    async def _outbound(ente_id: int, message_id: int, **_: Any) -> None:
        await hub.deliver(app, ente_id, message_id)

    async def retry(app: Any) -> None:
        for ente_id in served(app):
            await hub.retry_due(app, ente_id=ente_id)

    register("channel-retry", retry)

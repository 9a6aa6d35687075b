"""`urp telegram poll`: development mode for Telegram when Telegram cannot reach your webhook.

Long-polls getUpdates and hands each update to the running server's own webhook (with the secret header), so polled
updates take exactly the production path: verified, stored first, routed.
"""

from __future__ import annotations

import asyncio
import time

import click
import httpx


@click.group("telegram")
def cli() -> None:
    """Telegram channel."""


@cli.command("poll")
@click.option("--server", default=None, help="the running `urp serve` (default URP_PUBLIC_URL)")
@click.option("--once", is_flag=True, help="forward what is pending and stop (for scripts and tests)")
def poll(server: str | None, once: bool) -> None:
    """Long-poll Telegram and forward updates to the local webhook."""
    from channels.config import get_channel_settings
    from channels.telegram import TelegramAdapter
    from crm.config import get_settings

    settings = get_channel_settings()
    if settings.telegram_bot_token is None or settings.telegram_webhook_secret is None:
        raise click.ClickException("set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET first")
    target = (server or get_settings().public_url).rstrip("/") + "/channels/telegram/webhook"
    secret = settings.telegram_webhook_secret.get_secret_value()
    bot = TelegramAdapter(settings).bot()

    async def run() -> int:
        forwarded, offset = 0, None
        async with bot, httpx.AsyncClient(timeout=60) as http:
            await bot.delete_webhook()  # Telegram refuses getUpdates while a webhook is set
            while True:
                updates = await bot.get_updates(offset=offset, timeout=0 if once else 25)
                for u in updates:
                    r = await http.post(target, json=u.to_dict(), headers={"X-Telegram-Bot-Api-Secret-Token": secret})
                    if r.status_code >= 300:
                        raise click.ClickException(f"server refused update {u.update_id}: HTTP {r.status_code}")
                    offset, forwarded = u.update_id + 1, forwarded + 1
                if once:
                    return forwarded
                if not updates:
                    time.sleep(0.2)

    click.echo(f"forwarded {asyncio.run(run())} updates")

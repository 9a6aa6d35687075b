"""Citizen notifications through one outbox: sent once, retried with backoff, surviving restarts.

Bookings and istanze ``enqueue`` in their own transaction; the scheduler's ``dispatch_due`` hands each row to the
``Sender`` of its channel (Twilio SMS, Telegram, e-mail from ``channels/``; a log sender until they are configured).
"""

from __future__ import annotations

from typing import Any


def setup(app: Any) -> None:
    from crm.notifications.service import dispatch_due
    from crm.scheduler import register, served

    async def dispatch(app: Any) -> None:
        for ente_id in served(app):
            await dispatch_due(app.ctx.sessionmaker, app.ctx.senders, ente_id=ente_id)

    register("notifications", dispatch)

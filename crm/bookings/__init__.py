"""Booking centre (CUP): services, calendars (resource, multi-resource, capacity), availability and bookings."""

from __future__ import annotations

from typing import Any


def setup(app: Any) -> None:
    from crm.bookings import service
    from crm.db import reading, transaction
    from crm.scheduler import register, served

    async def reminders(app: Any) -> None:
        """A batch per transaction, until a batch comes back short."""
        for ente_id in served(app):
            async with reading(app.ctx.sessionmaker) as s:
                if not await service.reminders_due(s, hours_before=24, ente_id=ente_id):
                    continue
            while True:
                async with transaction(app.ctx.sessionmaker) as s:
                    n = await service.send_reminders(s, hours_before=24, ente_id=ente_id)
                if n < service.REMINDER_BATCH:
                    break

    register("booking-reminders", reminders)

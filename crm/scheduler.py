"""In-process scheduler: periodic jobs (outbox dispatch, reminders, protocol retries) run inside `urp serve`.

Modules register jobs with ``register(name, fn)``; ``fn(app)`` is awaited every ``interval`` seconds. Each job must
be safe to run in several replicas at once (they lease rows), so scaling out needs no leader election.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("urp.scheduler")
Job = Callable[[Any], Awaitable[Any]]
JOBS: dict[str, Job] = {}


def register(name: str, fn: Job) -> None:
    JOBS[name] = fn


async def run_forever(app: Any, interval: float) -> None:
    while True:
        for name, job in list(JOBS.items()):
            try:
                await job(app)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduled job %s failed", name)
        await asyncio.sleep(interval)


async def _dispatch_notifications(app: Any) -> None:
    from crm.notifications.service import dispatch_due

    await dispatch_due(app.ctx.sessionmaker, app.ctx.senders)


register("notifications", _dispatch_notifications)

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
    """Every job, then a pause; a shutdown lets the job in progress finish (``stop``) and starts no other."""
    stopping = app.ctx.scheduler_stopping = asyncio.Event()
    app.ctx.scheduler_task = asyncio.current_task()
    while not stopping.is_set():
        app.ctx.scheduler_ente_ids = await _served_entes(app)
        for name, job in list(JOBS.items()):
            if stopping.is_set():
                return
            try:
                await job(app)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduled job %s failed", name)
        try:
            await asyncio.wait_for(stopping.wait(), timeout=interval)
        except TimeoutError:
            pass


async def stop(app: Any, timeout: float) -> None:
    """Ask the scheduler to stop after the job in progress; wait for it at most ``timeout`` seconds."""
    stopping = getattr(app.ctx, "scheduler_stopping", None)
    task = getattr(app.ctx, "scheduler_task", None)
    if stopping is None or task is None:
        return
    stopping.set()
    if not task.done():
        await asyncio.wait([task], timeout=timeout)


async def _served_entes(app: Any) -> list[int] | None:
    """The entes this process serves (URP_SCHEDULER_ENTES), or None for all: a big installation can give each
    group of comuni its own worker. A slug ending in ``*`` names every ente whose slug starts so (``prov-vt-*``)."""
    slugs = [s.strip() for s in app.ctx.settings.scheduler_entes.split(",") if s.strip()]
    if not slugs:
        return None
    from sqlalchemy import or_, select

    from crm.entes.models import Ente

    exact = [s for s in slugs if not s.endswith("*")]
    prefixes = [s[:-1] for s in slugs if s.endswith("*")]
    match = or_(Ente.slug.in_(exact), *(Ente.slug.startswith(p, autoescape=True) for p in prefixes))
    async with app.ctx.read_sessionmaker() as s:
        return list((await s.scalars(select(Ente.id).where(match))).all())


async def served_ente_ids(app: Any) -> list[int] | None:
    """The ente ids this process serves, None for all: what the scheduler's last round found, or, in a process that
    runs no scheduler (or before its first round), found now, so an ente created since the start is served too."""
    if not app.ctx.settings.scheduler_entes.strip():
        return None
    if getattr(app.ctx, "scheduler_ente_ids", None) is None or getattr(app.ctx, "scheduler_task", None) is None:
        app.ctx.scheduler_ente_ids = await _served_entes(app)
    ids: list[int] | None = app.ctx.scheduler_ente_ids
    return ids


def served(app: Any) -> list[int | None]:
    """Ente ids a job should run for, one call per id; [None] means every ente at once."""
    ids = getattr(app.ctx, "scheduler_ente_ids", None)
    return [None] if ids is None else list(ids)

"""Knowledge base: articles (schede informative) that admins curate, with versions, feedback and the gap list.

The search engine lives in ``knowledge/``; ``crm/kb/indexer.py`` keeps one index per ente in sync with the database.
"""

from __future__ import annotations

import asyncio
from typing import Any


def setup(app: Any) -> None:
    from crm.kb.indexer import IndexManager
    from crm.scheduler import register
    from knowledge.threads import limit

    limit(app.ctx.settings.kb_threads)
    manager = IndexManager(app.ctx.settings)
    app.ctx.kb = manager

    async def probe(app: Any) -> dict[str, Any]:
        status = manager.health()
        return status if app.ctx.readiness["knowledge_base"].is_set() else {**status, "status": "starting"}

    app.ctx.health["knowledge_base"] = probe

    async def persist(app: Any) -> None:
        await manager.persist_dirty()

    register("kb-persist", persist)

    @app.before_server_stop
    async def _save(app: Any) -> None:
        await manager.persist_dirty()

    # /health says "starting" and the hub takes no turn until every ente's index is open (a first build embeds
    # every article: it takes minutes on a fresh install, during which a question would wait or time out)
    ready = asyncio.Event()
    app.ctx.readiness["knowledge_base"] = ready

    @app.after_server_start
    async def _warm(app: Any) -> None:
        if not app.ctx.settings.kb_warm_up:
            ready.set()  # opened lazily at each ente's first search
            return

        async def warm() -> None:
            try:
                # read-only sessions: building an index never holds SQLite's write lock (writers used to wait behind
                # it for the whole build, and the scheduler's jobs failed with "database is locked")
                await manager.warm_up(app.ctx.read_sessionmaker)
            finally:
                ready.set()

        app.ctx.background.spawn(warm(), name="kb-warm-up")

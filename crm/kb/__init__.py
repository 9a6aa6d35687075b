"""Knowledge base: articles (schede informative) that admins curate, with versions, feedback and the gap list.

The search engine lives in ``knowledge/``; ``crm/kb/indexer.py`` keeps one index per ente in sync with the database.
"""

from __future__ import annotations

from typing import Any


def setup(app: Any) -> None:
    from crm.kb.indexer import IndexManager
    from crm.scheduler import register

    from knowledge.threads import limit

    limit(app.ctx.settings.kb_threads)
    manager = IndexManager(app.ctx.settings)
    app.ctx.kb = manager

    async def probe(app: Any) -> dict[str, Any]:
        return manager.health()

    app.ctx.health["knowledge_base"] = probe

    async def persist(app: Any) -> None:
        await manager.persist_dirty()

    register("kb-persist", persist)

    @app.before_server_stop
    async def _save(app: Any) -> None:
        await manager.persist_dirty()

    @app.after_server_start
    async def _warm(app: Any) -> None:
        if not app.ctx.settings.kb_warm_up:
            return
        # load the model and open (or rebuild) every ente's index now, not on a citizen's first question
        app.add_task(manager.warm_up(app.ctx.sessionmaker), name="kb-warm-up")

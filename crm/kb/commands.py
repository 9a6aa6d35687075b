"""Every change to the knowledge base's articles, one function each: permission, service call, audit line, live event;
after commit this process's search index applies the article at once (other replicas follow the revision counter).
The search itself (and the gap it records when it abstains) is the engine's, in ``crm/kb/indexer.py``."""

from __future__ import annotations

from typing import Any

from crm.core.commands import Context, command
from crm.core.errors import Conflict
from crm.kb import policies
from crm.kb import service as svc
from crm.kb.models import Article, Feedback
from crm.kb.schemas import ArticleIn, ArticlePatch


def _reindex(cx: Context, article: Article) -> None:
    app, ente_id = cx.app, cx.ente_id
    if app is None or getattr(app.ctx, "kb", None) is None:
        return

    async def apply() -> None:
        async with app.ctx.read_sessionmaker() as s:
            await app.ctx.kb.apply(s, ente_id, article)

    cx.after_commit(apply)


@command(policies.CURATE)
async def create_article(cx: Context, *, data: ArticleIn, gap_ids: list[int] | None = None) -> tuple[Article, int]:
    """A new article (a draft unless ``data.status`` says otherwise); the gap questions it answers leave the gap list.
    Returns the article and how many gap questions were resolved."""
    a = await svc.create(cx.session, ente_id=cx.ente_id, data=data, author=cx.principal.username)
    resolved = await svc.resolve_gaps(cx.session, ente_id=cx.ente_id, ids=gap_ids or [])
    await cx.record("create", "kb_article", a.id, details={"slug": a.slug, "gaps_resolved": resolved})
    _reindex(cx, a)
    return a, resolved


@command(policies.CURATE)
async def update_article(
    cx: Context, *, article_id: int, data: ArticlePatch, expected_version: int | None = None
) -> Article:
    """A new version (none when nothing changed). ``expected_version``: the version the editor started from; another
    save in between is a Conflict (code ``stale``) rather than a silent overwrite."""
    current = await svc.get(cx.session, ente_id=cx.ente_id, article_id=article_id)
    if expected_version is not None and current.version != expected_version:
        raise Conflict("the article was edited meanwhile", code="stale")
    before = current.version
    a = await svc.update_article(
        cx.session, ente_id=cx.ente_id, article_id=article_id, data=data, author=cx.principal.username
    )
    if a.version != before:
        await cx.record("update", "kb_article", a.id, details={"version": a.version})
        _reindex(cx, a)
    return a


async def _status(cx: Context, article_id: int, status: str) -> Article:
    before = (await svc.get(cx.session, ente_id=cx.ente_id, article_id=article_id)).version
    a = await svc.set_status(
        cx.session, ente_id=cx.ente_id, article_id=article_id, status=status, author=cx.principal.username
    )
    if a.version != before:
        await cx.record(status, "kb_article", a.id, details={"version": a.version})
        _reindex(cx, a)
    return a


@command(policies.CURATE)
async def publish(cx: Context, *, article_id: int) -> Article:
    """Answerable while valid."""
    return await _status(cx, article_id, "published")


@command(policies.CURATE)
async def archive(cx: Context, *, article_id: int) -> Article:
    """No longer answerable; kept with its history."""
    return await _status(cx, article_id, "archived")


@command(policies.CURATE)
async def restore(cx: Context, *, article_id: int, version: int) -> Article:
    """An older version's content comes back as a new version (history is never rewritten)."""
    a = await svc.restore(
        cx.session, ente_id=cx.ente_id, article_id=article_id, version=version, author=cx.principal.username
    )
    await cx.record("restore", "kb_article", a.id, details={"restored": version, "version": a.version})
    _reindex(cx, a)
    return a


@command(policies.CURATE)
async def resolve_gaps(cx: Context, *, ids: list[int]) -> int:
    """Gap questions handled: they leave the curators' list. Returns how many."""
    n = await svc.resolve_gaps(cx.session, ente_id=cx.ente_id, ids=ids)
    await cx.record("resolve", "kb_gap", None, details={"ids": ids, "resolved": n})
    return n


@command(policies.FEEDBACK)
async def add_feedback(
    cx: Context, *, slug: str | None, query: str, helpful: bool, conversation_id: int | None = None
) -> Feedback:
    """Was the answer helpful? A "no" also lands in the gap list."""
    cx.allow(policies.FEEDBACK, owner=cx.principal.contact_id)  # a citizen rates the answers they received
    fb = await svc.add_feedback(
        cx.session, ente_id=cx.ente_id, slug=slug, query=query, helpful=helpful, conversation_id=conversation_id
    )
    await cx.record("feedback", "kb_feedback", fb.id, details={"slug": slug, "helpful": helpful})
    return fb


@command(policies.CURATE)
async def import_articles(
    cx: Context, *, rows: list[tuple[int, dict[str, Any]]], publish: bool = True, author: str = "cli:import"
) -> dict[str, Any]:
    """Articles from JSON Lines (``urp kb import``), idempotent by slug; any bad line aborts the whole import. One
    audit line says what changed. The running servers' indexes follow the revision counter."""
    report = await svc.import_rows(cx.session, ente_id=cx.ente_id, rows=rows, author=author, publish=publish)
    await cx.record(
        "import",
        "kb_article",
        None,
        details={
            "created": len(report["created"]),
            "updated": len(report["updated"]),
            "skipped": len(report["skipped"]),
        },
    )
    return report

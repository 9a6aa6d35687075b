"""What the workspace's composer asks for besides the quick replies: knowledge-base articles to insert as a reply
(``/kb`` and a few words, or the search box under the reply), as their title, the paragraph that answers and the
article's link. Only published articles; the operator reads and edits the text before sending it."""

from __future__ import annotations

from typing import Any

from sanic import Request
from sanic.response import HTTPResponse, json
from sqlalchemy import select

from crm.console.kit import KB_READERS, bp
from crm.console.session import console_page
from crm.core.auth import Principal
from crm.kb import service as kb
from crm.kb.models import Article
from crm.kb.render import plain_text

MAX_RESULTS = 5
MAX_PASSAGE = 700


def _short(text: str, limit: int = MAX_PASSAGE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def reply_text(title: str, passage: str, url: str) -> str:
    """The text put into the draft: the title, the paragraph, the link (when the article has one)."""
    lines = [title, passage]
    if url:
        lines.append(f"Maggiori informazioni: {url}")
    return "\n".join(x for x in lines if x)


@bp.get("/composer/kb")
@console_page(*KB_READERS)
async def composer_kb(request: Request, p: Principal) -> HTTPResponse:
    """Published articles for ``q``: the semantic search's hits (whether or not it would answer a citizen alone:
    the operator judges), else titles and texts containing the words."""
    q = " ".join((request.args.get("q") or "").split())[:200]
    items: list[dict[str, Any]] = []
    published: set[str] = set()
    if len(q) >= 2:
        async with request.app.ctx.read_sessionmaker() as s:
            res = await request.app.ctx.kb.search(s, p.ente_id, q, MAX_RESULTS)
            for h in res.hits:
                passage = _short(plain_text(h.passage or h.snippet))
                items.append({"slug": h.slug, "title": h.title, "passage": passage, "url": h.url})
            if not items:
                rows = (
                    await s.scalars(
                        kb.list_stmt(ente_id=p.ente_id, status="published", topic=None, q=q)
                        .order_by(Article.title)
                        .limit(MAX_RESULTS)
                    )
                ).all()
                for a in rows:
                    passage = _short(plain_text(a.body), 400)
                    items.append({"slug": a.slug, "title": a.title, "passage": passage, "url": a.url})
            published = set(
                (
                    await s.scalars(
                        select(Article.slug).where(
                            Article.ente_id == p.ente_id,
                            Article.status == "published",
                            Article.slug.in_([i["slug"] for i in items]),
                        )
                    )
                ).all()
            )
    items = [{**i, "text": reply_text(i["title"], i["passage"], i["url"])} for i in items if i["slug"] in published]
    return json({"q": q, "items": items}, headers={"Cache-Control": "no-store"})

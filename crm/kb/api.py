from __future__ import annotations

import asyncio

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from crm.core.auth import STAFF, authorized, principal_of
from crm.core.errors import ValidationFailed
from crm.core.http import apply_sort, json_ok, page_params, paginate, parse_body
from crm.core.openapi import openapi
from crm.db import db_session
from crm.kb import gaps as gap_groups
from crm.kb import service
from crm.kb.models import Article
from crm.kb.render import plain_text
from crm.kb.schemas import MAX_QUERY, ArticleIn, ArticleOut, ArticlePatch, FeedbackIn, SearchOut
from knowledge.embedders import get_embedder

bp = Blueprint("kb", url_prefix="/api/v1/kb")


@bp.get("/search")
@authorized(*STAFF, "service")
@openapi(summary="Semantic search: {answerable, results:[{slug,title,score,snippet,url}]}; q (<= 500 chars), k (1-10)",
         response=SearchOut)
async def search(request: Request) -> HTTPResponse:
    p = principal_of(request)
    q = (request.args.get("q") or "").strip()
    if not q:
        raise ValidationFailed("q is required", fields={"q": "required"})
    if len(q) > MAX_QUERY:
        raise ValidationFailed(f"q is longer than {MAX_QUERY} characters", fields={"q": "too long"})
    try:
        k = int(request.args.get("k", "3"))
    except ValueError:
        raise ValidationFailed("k must be an integer", fields={"k": "must be an integer"}) from None
    if not 1 <= k <= 10:
        raise ValidationFailed("k must be between 1 and 10", fields={"k": "out of range"})
    # the search (and a first index build, which can take seconds) reads only: it must not hold the write lock
    async with request.app.ctx.read_sessionmaker() as s:
        res = await request.app.ctx.kb.search(s, p.ente_id, q, k)
    if not res.answerable and p.is_service:
        async with db_session(request) as s:
            await service.record_gap(s, ente_id=p.ente_id, query=q, reason=res.reason,
                                     channel=request.args.get("channel", ""))
    out = SearchOut(
        answerable=res.answerable,
        results=[{"slug": h.slug, "title": h.title, "score": h.score, "snippet": plain_text(h.snippet), "url": h.url}
                 for h in res.hits],
        reason=res.reason,
        redirect=res.redirect,
    )
    return json_ok(out)


@bp.get("/articles")
@authorized(*STAFF, "service")
@openapi(summary="List articles: status=, topic=, q= (title/slug), sort=", response=ArticleOut, many=True)
async def list_articles(request: Request) -> HTTPResponse:
    p = principal_of(request)
    page = page_params(request)
    stmt = service.list_stmt(ente_id=p.ente_id, status=request.args.get("status"), topic=request.args.get("topic"),
                             q=request.args.get("q"))
    stmt = apply_sort(stmt, page, {"title": Article.title, "updated_at": Article.updated_at, "slug": Article.slug},
                      [Article.id])
    async with db_session(request) as s:
        return json_ok(await paginate(s, stmt, page, lambda a: service.to_out(a).model_dump(mode="json")))


@bp.post("/articles")
@authorized("admin")
@openapi(summary="Create an article (status draft by default)", body=ArticleIn, response=ArticleOut)
async def create_article(request: Request) -> HTTPResponse:
    data = parse_body(request, ArticleIn)
    p = principal_of(request)
    async with db_session(request) as s:
        a = await service.create(s, ente_id=p.ente_id, data=data, author=p.username)
        out = service.to_out(a)
    await _apply(request, p.ente_id, a)
    return json_ok(out, status=201)


async def _apply(request: Request, ente_id: int, article: Article) -> None:
    async with request.app.ctx.read_sessionmaker() as s:
        await request.app.ctx.kb.apply(s, ente_id, article)


@bp.get("/articles/<article_id:int>")
@authorized(*STAFF, "service")
@openapi(summary="An article (body as Markdown and as sanitised HTML)", response=ArticleOut)
async def get_article(request: Request, article_id: int) -> HTTPResponse:
    async with db_session(request) as s:
        a = await service.get(s, ente_id=principal_of(request).ente_id, article_id=article_id)
        return json_ok(service.to_out(a))


@bp.patch("/articles/<article_id:int>")
@authorized("admin")
@openapi(summary="Edit an article (a new version; the index follows at once)", body=ArticlePatch, response=ArticleOut)
async def patch_article(request: Request, article_id: int) -> HTTPResponse:
    data = parse_body(request, ArticlePatch)
    p = principal_of(request)
    async with db_session(request) as s:
        a = await service.update_article(s, ente_id=p.ente_id, article_id=article_id, data=data, author=p.username)
        out = service.to_out(a)
    await _apply(request, p.ente_id, a)
    return json_ok(out)


async def _status(request: Request, article_id: int, status: str) -> HTTPResponse:
    p = principal_of(request)
    async with db_session(request) as s:
        a = await service.set_status(s, ente_id=p.ente_id, article_id=article_id, status=status, author=p.username)
        out = service.to_out(a)
    await _apply(request, p.ente_id, a)
    return json_ok(out)


@bp.post("/articles/<article_id:int>/publish")
@authorized("admin")
@openapi(summary="Publish (answerable while valid)", response=ArticleOut)
async def publish(request: Request, article_id: int) -> HTTPResponse:
    return await _status(request, article_id, "published")


@bp.post("/articles/<article_id:int>/archive")
@authorized("admin")
@openapi(summary="Archive (no longer answerable)", response=ArticleOut)
async def archive(request: Request, article_id: int) -> HTTPResponse:
    return await _status(request, article_id, "archived")


@bp.get("/articles/<article_id:int>/versions")
@authorized("admin", "operator")
@openapi(summary="Version history: who changed what, when")
async def versions(request: Request, article_id: int) -> HTTPResponse:
    async with db_session(request) as s:
        rows = await service.versions(s, ente_id=principal_of(request).ente_id, article_id=article_id)
        items = [{"version": v.version, "author": v.author, "at": v.at.isoformat(), "changed_fields": v.changed_fields,
                  "snapshot": v.snapshot} for v in rows]
    return json_ok({"items": items, "total": len(items)})


@bp.post("/articles/<article_id:int>/restore")
@authorized("admin")
@openapi(summary="Restore an older version's content as a new version", response=ArticleOut)
async def restore(request: Request, article_id: int) -> HTTPResponse:
    body = request.json if request.body else None
    version = body.get("version") if isinstance(body, dict) else None
    if not isinstance(version, int):
        raise ValidationFailed("version (integer) is required", fields={"version": "required"})
    p = principal_of(request)
    async with db_session(request) as s:
        a = await service.restore(s, ente_id=p.ente_id, article_id=article_id, version=version, author=p.username)
        out = service.to_out(a)
    await _apply(request, p.ente_id, a)
    return json_ok(out)


@bp.post("/feedback")
@authorized(*STAFF, "service")
@openapi(summary="Was the answer helpful? (a 'no' also lands in the gap list)", body=FeedbackIn)
async def feedback(request: Request) -> HTTPResponse:
    data = parse_body(request, FeedbackIn)
    async with db_session(request) as s:
        fb = await service.add_feedback(s, ente_id=principal_of(request).ente_id, slug=data.slug, query=data.query,
                                        helpful=data.helpful, conversation_id=data.conversation_id)
        return json_ok({"id": fb.id, "helpful": fb.helpful}, status=201)


@bp.get("/feedback/stats")
@authorized("admin", "operator")
@openapi(summary="Helpful / not helpful per article")
async def feedback_stats(request: Request) -> HTTPResponse:
    async with db_session(request) as s:
        items = await service.feedback_stats(s, ente_id=principal_of(request).ente_id)
    return json_ok({"items": items, "total": len(items)})


@bp.get("/gaps")
@authorized("admin", "operator")
@openapi(summary="Unanswered questions grouped by similarity (what to write next)")
async def gaps(request: Request) -> HTTPResponse:
    async with db_session(request) as s:
        rows = list(await service.open_gaps(s, ente_id=principal_of(request).ente_id))
    embedder = await asyncio.to_thread(get_embedder, request.app.ctx.settings.kb_embedder)
    groups = await asyncio.to_thread(gap_groups.group, rows, embedder)
    return json_ok({"items": groups, "total": len(groups), "questions": len(rows)})


@bp.post("/gaps/resolve")
@authorized("admin")
@openapi(summary="Mark gap questions as handled: {ids: [...]}")
async def resolve_gaps(request: Request) -> HTTPResponse:
    body = request.json if request.body else None
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise ValidationFailed("ids must be a list of integers", fields={"ids": "required"})
    p = principal_of(request)
    async with db_session(request) as s:
        resolved = await service.resolve_gaps(s, ente_id=p.ente_id, ids=ids)
    return json_ok({"resolved": resolved})

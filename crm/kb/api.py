from __future__ import annotations

import asyncio

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from crm.core.auth import authorized, principal_of
from crm.core.commands import begin
from crm.core.errors import ValidationFailed
from crm.core.http import ListOut, apply_sort, json_ok, page_params, paginate, parse_body
from crm.core.openapi import openapi
from crm.db import db_session, read_session
from crm.kb import commands, policies, service
from crm.kb import gaps as gap_groups
from crm.kb.models import GAP_KINDS, Article
from crm.kb.render import markdown_passage, plain_text
from crm.kb.schemas import (
    MAX_QUERY,
    ArticleIn,
    ArticleOut,
    ArticlePatch,
    ArticleQuery,
    FeedbackIn,
    FeedbackOut,
    FeedbackStatsOut,
    GapGroupOut,
    GapsOut,
    GapsQuery,
    GapsResolvedOut,
    GapsResolveIn,
    RestoreIn,
    SearchOut,
    SearchQuery,
    VersionOut,
)
from knowledge.embedders import get_embedder

bp = Blueprint("kb", url_prefix="/api/v1/kb")
READERS, CURATORS = policies.VIEW.roles, policies.CURATE.roles


@bp.get("/search")
@authorized(*READERS)
@openapi(
    summary="Semantic search: {answerable, confidence, results:[{slug,title,score,snippet,passage,url,topic}]}; "
    "q (<= 500 chars), k (1-10); context=<slug>: the article just given, for a follow-up; probe=true: an unanswered "
    "search is not recorded as a gap",
    response=SearchOut,
    query=SearchQuery,
)
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
    channel = request.args.get("channel", "")
    if len(channel) > 20:  # stored with the gap (20 characters)
        raise ValidationFailed("channel is longer than 20 characters", fields={"channel": "too long"})
    context = request.args.get("context")  # the article just given: a follow-up («e quanto costa?») is about it
    if context is not None and not 1 <= len(context) <= 200:
        raise ValidationFailed("context must be a slug of 1 to 200 characters", fields={"context": "invalid"})
    probe = request.args.get("probe", "false")
    if probe not in ("true", "false"):
        raise ValidationFailed("probe must be true or false", fields={"probe": "must be true or false"})
    # the search (and a first index build, which can take seconds) reads only: it must not hold the write lock
    async with request.app.ctx.read_sessionmaker() as s:
        res = await request.app.ctx.kb.search(s, p.ente_id, q, k, context)
        topics = await service.topics_of(s, ente_id=p.ente_id, slugs=[h.slug for h in res.hits])
    # a probe («ciao, mi serve un'info» checked for an article before the greeting is the reply) is not a gap: the
    # citizen was answered, and such courtesies would top the curators' list
    if not res.answerable and p.is_service and probe == "false":
        async with db_session(request) as s:
            await service.record_gap(
                s,
                ente_id=p.ente_id,
                query=q,
                reason=res.reason,
                kind="redirected" if res.redirect else "unanswered",
                channel=channel,
                vector=res.query_vector,
                embedder=res.embedder,
            )
    out = SearchOut(
        answerable=res.answerable,
        results=[
            {
                "slug": h.slug,
                "title": h.title,
                "score": h.score,
                "snippet": plain_text(h.snippet),
                # the article's own Markdown holding the chosen sentences (lists, links, bold), else the plain text
                "passage": markdown_passage(topics.get(h.slug, ("", ""))[1], h.passage_parts) or plain_text(h.passage),
                "url": h.url,
                "topic": topics.get(h.slug, ("", ""))[0],
            }
            for h in res.hits
        ],
        reason=res.reason,
        redirect=res.redirect,
        confidence=res.confidence,
    )
    return json_ok(out)


@bp.get("/articles")
@authorized(*READERS)
@openapi(
    summary="List articles: status=, topic=, q= (title, slug or text), sort=",
    response=ArticleOut,
    many=True,
    query=ArticleQuery,
)
async def list_articles(request: Request) -> HTTPResponse:
    p = principal_of(request)
    page = page_params(request)
    stmt = service.list_stmt(
        ente_id=p.ente_id, status=request.args.get("status"), topic=request.args.get("topic"), q=request.args.get("q")
    )
    stmt = apply_sort(
        stmt, page, {"title": Article.title, "updated_at": Article.updated_at, "slug": Article.slug}, [Article.id]
    )
    async with read_session(request) as s:
        return json_ok(await paginate(s, stmt, page, lambda a: service.to_out(a).model_dump(mode="json")))


@bp.post("/articles")
@authorized(*CURATORS)
@openapi(status=201, summary="Create an article (status draft by default)", body=ArticleIn, response=ArticleOut)
async def create_article(request: Request) -> HTTPResponse:
    data = parse_body(request, ArticleIn)
    async with begin(request) as cx:
        a, _ = await commands.create_article(cx, data=data)
        out = service.to_out(a)
    return json_ok(out, status=201)


@bp.get("/articles/<article_id:int>")
@authorized(*READERS)
@openapi(summary="An article (body as Markdown and as sanitised HTML)", response=ArticleOut)
async def get_article(request: Request, article_id: int) -> HTTPResponse:
    async with read_session(request) as s:
        a = await service.get(s, ente_id=principal_of(request).ente_id, article_id=article_id)
        return json_ok(service.to_out(a))


@bp.patch("/articles/<article_id:int>")
@authorized(*CURATORS)
@openapi(summary="Edit an article (a new version; the index follows at once)", body=ArticlePatch, response=ArticleOut)
async def patch_article(request: Request, article_id: int) -> HTTPResponse:
    data = parse_body(request, ArticlePatch)
    async with begin(request) as cx:
        out = service.to_out(await commands.update_article(cx, article_id=article_id, data=data))
    return json_ok(out)


@bp.post("/articles/<article_id:int>/publish")
@authorized(*CURATORS)
@openapi(summary="Publish (answerable while valid)", response=ArticleOut)
async def publish(request: Request, article_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        out = service.to_out(await commands.publish(cx, article_id=article_id))
    return json_ok(out)


@bp.post("/articles/<article_id:int>/archive")
@authorized(*CURATORS)
@openapi(summary="Archive (no longer answerable)", response=ArticleOut)
async def archive(request: Request, article_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        out = service.to_out(await commands.archive(cx, article_id=article_id))
    return json_ok(out)


@bp.get("/articles/<article_id:int>/versions")
@authorized("admin", "operator")
@openapi(summary="Version history: who changed what, when", response=VersionOut, many="all")
async def versions(request: Request, article_id: int) -> HTTPResponse:
    async with read_session(request) as s:
        rows = await service.versions(s, ente_id=principal_of(request).ente_id, article_id=article_id)
    return json_ok(ListOut.of([VersionOut.model_validate(v) for v in rows]))


@bp.post("/articles/<article_id:int>/restore")
@authorized(*CURATORS)
@openapi(summary="Restore an older version's content as a new version", body=RestoreIn, response=ArticleOut)
async def restore(request: Request, article_id: int) -> HTTPResponse:
    data = parse_body(request, RestoreIn)
    async with begin(request) as cx:
        out = service.to_out(await commands.restore(cx, article_id=article_id, version=data.version))
    return json_ok(out)


@bp.post("/feedback")
@authorized(*READERS)
@openapi(
    status=201,
    summary="Was the answer helpful? (a 'no' also lands in the gap list)",
    body=FeedbackIn,
    response=FeedbackOut,
)
async def feedback(request: Request) -> HTTPResponse:
    data = parse_body(request, FeedbackIn)
    async with begin(request) as cx:
        fb = await commands.add_feedback(
            cx, slug=data.slug, query=data.query, helpful=data.helpful, conversation_id=data.conversation_id
        )
    return json_ok(FeedbackOut(id=fb.id, helpful=fb.helpful), status=201)


@bp.get("/feedback/stats")
@authorized("admin", "operator")
@openapi(summary="Helpful / not helpful per article", response=FeedbackStatsOut, many="all")
async def feedback_stats(request: Request) -> HTTPResponse:
    async with read_session(request) as s:
        items = await service.feedback_stats(s, ente_id=principal_of(request).ente_id)
    return json_ok(ListOut.of([FeedbackStatsOut(**i) for i in items]))


@bp.get("/gaps")
@authorized("admin", "operator")
@openapi(
    summary="Unanswered questions grouped by similarity (what to write next); kind= lists some kinds only",
    response=GapsOut,
    query=GapsQuery,
)
async def gaps(request: Request) -> HTTPResponse:
    kinds = gap_kinds(request.args.get("kind"))
    ente_id = principal_of(request).ente_id
    async with read_session(request) as s:
        rows = list(await service.open_gaps(s, ente_id=ente_id, kinds=kinds))
        counts = await service.open_gap_counts(s, ente_id=ente_id)
    embedder = await asyncio.to_thread(get_embedder, request.app.ctx.settings.kb_embedder)
    groups = await asyncio.to_thread(gap_groups.group, rows, embedder)
    return json_ok(
        GapsOut(items=[GapGroupOut(**g) for g in groups], total=len(groups), questions=len(rows), counts=counts)
    )


def gap_kinds(raw: str | None) -> tuple[str, ...]:
    """``kind=unanswered,not_helpful`` → those kinds; absent → every kind; an unknown one is a 422."""
    if raw is None:
        return GAP_KINDS
    kinds = tuple(dict.fromkeys(k.strip() for k in raw.split(",") if k.strip()))
    unknown = [k for k in kinds if k not in GAP_KINDS]
    if unknown or not kinds:
        raise ValidationFailed(
            f"kind must be a comma-separated list of {', '.join(GAP_KINDS)}", fields={"kind": "unknown kind"}
        )
    return kinds


@bp.post("/gaps/resolve")
@authorized(*CURATORS)
@openapi(summary="Mark gap questions as handled: {ids: [...]}", body=GapsResolveIn, response=GapsResolvedOut)
async def resolve_gaps(request: Request) -> HTTPResponse:
    data = parse_body(request, GapsResolveIn)
    async with begin(request) as cx:
        resolved = await commands.resolve_gaps(cx, ids=data.ids)
    return json_ok(GapsResolvedOut(resolved=resolved))

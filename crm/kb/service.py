"""Knowledge-base articles: CRUD with versions, publish/archive, restore, import/export, feedback and the gap list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm.conversations.models import Conversation
from crm.core.errors import Conflict, NotFound, ValidationFailed
from crm.core.http import validation_fields
from crm.core.refs import ensure_owned
from crm.kb.indexer import is_answerable
from crm.kb.models import GAP_KINDS, Article, ArticleVersion, Feedback, Gap, KbRevision
from crm.kb.render import body_html
from crm.kb.schemas import ArticleIn, ArticleOut, ArticlePatch
from crm.offices.models import Office

SNAPSHOT_FIELDS = (
    "slug",
    "title",
    "body",
    "topic",
    "office_id",
    "url",
    "valid_from",
    "valid_until",
    "keywords",
    "phrasings",
    "language",
    "status",
)


def to_out(a: Article) -> ArticleOut:
    return ArticleOut(
        id=a.id,
        slug=a.slug,
        title=a.title,
        body=a.body,
        body_html=body_html(a.body),
        topic=a.topic,
        office_id=a.office_id,
        url=a.url,
        valid_from=a.valid_from,
        valid_until=a.valid_until,
        keywords=list(a.keywords or []),
        phrasings=list(a.phrasings or []),
        language=a.language,
        status=a.status,
        version=a.version,
        answerable=is_answerable(a),
        updated_at=a.updated_at.isoformat(),
    )


def _snapshot(a: Article) -> dict[str, Any]:
    snap = {f: getattr(a, f) for f in SNAPSHOT_FIELDS}
    for f in ("valid_from", "valid_until"):
        snap[f] = snap[f].isoformat() if snap[f] else None
    return snap


async def bump_revision(session: AsyncSession, ente_id: int) -> None:
    result = await session.execute(
        update(KbRevision).where(KbRevision.ente_id == ente_id).values(revision=KbRevision.revision + 1)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(KbRevision(ente_id=ente_id, revision=1))
        await session.flush()


async def _version(session: AsyncSession, a: Article, author: str, changed: list[str]) -> None:
    session.add(
        ArticleVersion(
            ente_id=a.ente_id,
            article_id=a.id,
            version=a.version,
            snapshot=_snapshot(a),
            changed_fields=changed,
            author=author,
        )
    )
    await bump_revision(session, a.ente_id)
    await session.flush()


async def get(session: AsyncSession, *, ente_id: int, article_id: int) -> Article:
    a = await session.scalar(select(Article).where(Article.ente_id == ente_id, Article.id == article_id))
    if a is None:
        raise NotFound("article not found")
    return a


async def get_by_slug(session: AsyncSession, *, ente_id: int, slug: str) -> Article | None:
    return await session.scalar(select(Article).where(Article.ente_id == ente_id, Article.slug == slug))


async def create(session: AsyncSession, *, ente_id: int, data: ArticleIn, author: str) -> Article:
    if await get_by_slug(session, ente_id=ente_id, slug=data.slug):
        raise Conflict(f"an article with slug {data.slug!r} exists", fields={"slug": "already used"})
    await ensure_owned(session, ente_id=ente_id, field="office_id", model=Office, value=data.office_id)
    a = Article(ente_id=ente_id, version=1, **data.model_dump())
    session.add(a)
    await session.flush()
    await _version(session, a, author, ["created"])
    return a


async def update_article(
    session: AsyncSession, *, ente_id: int, article_id: int, data: ArticlePatch, author: str
) -> Article:
    a = await get(session, ente_id=ente_id, article_id=article_id)
    if "office_id" in data.model_fields_set:
        await ensure_owned(session, ente_id=ente_id, field="office_id", model=Office, value=data.office_id)
    changed = []
    for name in data.model_fields_set:
        value = getattr(data, name)
        if value is None and name not in ("office_id", "valid_from", "valid_until"):
            continue
        if getattr(a, name) != value:
            setattr(a, name, value)
            changed.append(name)
    if a.valid_from and a.valid_until and a.valid_until < a.valid_from:
        raise ValidationFailed("valid_until is before valid_from", fields={"valid_until": "before valid_from"})
    if changed:
        a.version += 1
        await session.flush()
        await _version(session, a, author, sorted(changed))
    return a


async def set_status(session: AsyncSession, *, ente_id: int, article_id: int, status: str, author: str) -> Article:
    return await update_article(
        session, ente_id=ente_id, article_id=article_id, data=ArticlePatch(status=status), author=author
    )  # type: ignore[arg-type]


async def versions(session: AsyncSession, *, ente_id: int, article_id: int) -> Sequence[ArticleVersion]:
    await get(session, ente_id=ente_id, article_id=article_id)
    return (
        await session.scalars(
            select(ArticleVersion)
            .where(ArticleVersion.article_id == article_id)
            .order_by(ArticleVersion.version.desc())
        )
    ).all()


async def restore(session: AsyncSession, *, ente_id: int, article_id: int, version: int, author: str) -> Article:
    """Bring back an older version's content as a new version (history is never rewritten)."""
    a = await get(session, ente_id=ente_id, article_id=article_id)
    old = await session.scalar(
        select(ArticleVersion).where(ArticleVersion.article_id == article_id, ArticleVersion.version == version)
    )
    if old is None:
        raise NotFound(f"version {version} not found")
    snap = dict(old.snapshot)
    for f in ("valid_from", "valid_until"):
        snap[f] = date.fromisoformat(snap[f]) if snap.get(f) else None
    changed = [f for f in SNAPSHOT_FIELDS if f != "slug" and getattr(a, f) != snap.get(f)]
    for f in changed:
        setattr(a, f, snap.get(f))
    a.version += 1
    await session.flush()
    await _version(session, a, author, [f"restored v{version}", *changed])
    return a


def list_stmt(*, ente_id: int, status: str | None, topic: str | None, q: str | None) -> Select[tuple[Article]]:
    stmt = select(Article).where(Article.ente_id == ente_id)
    if status:
        stmt = stmt.where(Article.status == status)
    if topic:
        stmt = stmt.where(Article.topic == topic)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            func.lower(Article.title).like(like)
            | func.lower(Article.slug).like(like)
            | func.lower(Article.body).like(like)
        )
    return stmt


async def import_rows(
    session: AsyncSession, *, ente_id: int, rows: list[tuple[int, dict[str, Any]]], author: str, publish: bool = True
) -> dict[str, Any]:
    """Idempotent by slug. Any bad line aborts the whole import (the caller's transaction rolls back)."""
    report: dict[str, Any] = {"created": [], "updated": [], "skipped": []}
    seen: set[str] = set()
    errors = []
    parsed = []
    for lineno, row in rows:
        row = {**row}
        row.setdefault("status", "published" if publish else "draft")
        if "faq" in row and "phrasings" not in row:
            row["phrasings"] = row.pop("faq")
        row = {k: v for k, v in row.items() if k in ArticleIn.model_fields}
        try:
            data = ArticleIn.model_validate(row)
        except ValidationError as exc:
            errors.append(f"line {lineno}: " + "; ".join(f"{k}: {v}" for k, v in validation_fields(exc).items()))
            continue
        if data.slug in seen:
            errors.append(f"line {lineno}: duplicate slug {data.slug!r} in the file")
            continue
        seen.add(data.slug)
        parsed.append(data)
    if errors:
        raise ValidationFailed(
            "import refused, nothing was saved: " + " | ".join(errors[:20]), fields={"lines": " | ".join(errors[:20])}
        )
    for data in parsed:
        existing = await get_by_slug(session, ente_id=ente_id, slug=data.slug)
        if existing is None:
            await create(session, ente_id=ente_id, data=data, author=author)
            report["created"].append(data.slug)
            continue
        patch = ArticlePatch(**data.model_dump(exclude={"slug", "language"}))
        before = existing.version
        await update_article(session, ente_id=ente_id, article_id=existing.id, data=patch, author=author)
        report["updated" if existing.version != before else "skipped"].append(data.slug)
    return report


async def export_rows(session: AsyncSession, *, ente_id: int) -> list[dict[str, Any]]:
    rows = (await session.scalars(select(Article).where(Article.ente_id == ente_id).order_by(Article.slug))).all()
    out = []
    for a in rows:
        snap = _snapshot(a)
        out.append({k: v for k, v in snap.items() if v not in (None, [], "")} | {"slug": a.slug, "body": a.body})
    return out


async def add_feedback(
    session: AsyncSession, *, ente_id: int, slug: str | None, query: str, helpful: bool, conversation_id: int | None
) -> Feedback:
    article_id = None
    if slug:
        a = await get_by_slug(session, ente_id=ente_id, slug=slug)
        if a is None:
            raise NotFound(f"article {slug!r} not found", fields={"slug": "unknown"})
        article_id = a.id
    await ensure_owned(session, ente_id=ente_id, field="conversation_id", model=Conversation, value=conversation_id)
    fb = Feedback(ente_id=ente_id, article_id=article_id, query=query, helpful=helpful, conversation_id=conversation_id)
    session.add(fb)
    if not helpful and query:
        await record_gap(session, ente_id=ente_id, query=query, reason="negative feedback", kind="not_helpful")
    await session.flush()
    return fb


async def record_gap(
    session: AsyncSession,
    *,
    ente_id: int,
    query: str,
    reason: str,
    kind: str = "unanswered",
    channel: str = "",
    vector: np.ndarray | None = None,
    embedder: str = "",
) -> None:
    """``kind``: one of ``GAP_KINDS``. ``vector``: the question as the search encoded it (with its ``embedder``), kept
    so the gap list groups the questions without encoding them again."""
    if kind not in GAP_KINDS:
        raise ValueError(f"unknown gap kind {kind!r}")
    blob = np.asarray(vector, dtype="<f4").tobytes() if vector is not None and embedder else None
    session.add(
        Gap(
            ente_id=ente_id,
            query=query[:500],
            reason=reason[:200],
            kind=kind,
            channel=channel,
            vector=blob,
            embedder=embedder[:60] if blob else "",
        )
    )
    await session.flush()


async def feedback_stats(session: AsyncSession, *, ente_id: int) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(Article.slug, Article.title, func.sum(Feedback.helpful.cast(int_type())), func.count(Feedback.id))
        .join(Feedback, Feedback.article_id == Article.id)
        .where(Article.ente_id == ente_id)
        .group_by(Article.slug, Article.title)
        .order_by(func.count(Feedback.id).desc())
    )
    return [
        {"slug": s, "title": t, "helpful": int(h or 0), "total": n, "not_helpful": n - int(h or 0)}
        for s, t, h, n in rows.all()
    ]


def int_type() -> Any:
    from sqlalchemy import Integer

    return Integer


async def open_gaps(
    session: AsyncSession, *, ente_id: int, kinds: Sequence[str] = GAP_KINDS, limit: int = 500
) -> Sequence[Gap]:
    """The newest open gaps of some kinds (the grouping reads at most ``limit``)."""
    return (
        await session.scalars(
            select(Gap)
            .where(Gap.ente_id == ente_id, Gap.resolved.is_(False), Gap.kind.in_(list(kinds)))
            .order_by(Gap.at.desc())
            .limit(limit)
        )
    ).all()


async def open_gap_counts(session: AsyncSession, *, ente_id: int) -> dict[str, int]:
    """How many open gaps of each kind (every kind present, zeros included): the gap list's tabs show them."""
    rows = await session.execute(
        select(Gap.kind, func.count(Gap.id)).where(Gap.ente_id == ente_id, Gap.resolved.is_(False)).group_by(Gap.kind)
    )
    counts = dict.fromkeys(GAP_KINDS, 0)
    counts.update({k: int(n) for k, n in rows.all()})
    return counts


async def resolve_gaps(session: AsyncSession, *, ente_id: int, ids: list[int]) -> int:
    """Mark gap questions as handled (they leave the curators' list); returns how many were marked."""
    if not ids:
        return 0
    result = await session.execute(update(Gap).where(Gap.ente_id == ente_id, Gap.id.in_(ids)).values(resolved=True))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def gap_questions(session: AsyncSession, *, ente_id: int, ids: list[int]) -> list[str]:
    """The distinct questions of some gaps of the ente, oldest first (to seed an article's alternative phrasings)."""
    if not ids:
        return []
    rows = (
        await session.scalars(select(Gap.query).where(Gap.ente_id == ente_id, Gap.id.in_(ids)).order_by(Gap.at, Gap.id))
    ).all()
    return list(dict.fromkeys(q.strip() for q in rows if q.strip()))


async def topics_in_use(session: AsyncSession, *, ente_id: int) -> list[str]:
    """The topic values the ente's articles use (articles may name topics that are not routing topics)."""
    rows = (await session.scalars(select(Article.topic).where(Article.ente_id == ente_id).distinct())).all()
    return sorted(t for t in rows if t)


async def topics_of(session: AsyncSession, *, ente_id: int, slugs: list[str]) -> dict[str, tuple[str, str]]:
    """The topic and the Markdown body of each article named (a search hit carries the topic: the assistant offers
    the report form for "report it" topics without a second call; its passage is the body's own Markdown)."""
    if not slugs:
        return {}
    rows = await session.execute(
        select(Article.slug, Article.topic, Article.body).where(Article.ente_id == ente_id, Article.slug.in_(slugs))
    )
    return {slug: (topic, body) for slug, topic, body in rows.all()}

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, get_args

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, EnteMixin, IdMixin, TimestampMixin, utcnow

STATUSES = ("draft", "published", "archived")


class Article(IdMixin, EnteMixin, TimestampMixin, Base):
    __tablename__ = "kb_articles"
    __table_args__ = (UniqueConstraint("ente_id", "slug"), Index("ix_kb_articles_status", "ente_id", "status"))

    slug: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    topic: Mapped[str] = mapped_column(String(64), default="")
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id", ondelete="SET NULL"), default=None)
    url: Mapped[str] = mapped_column(String(500), default="")
    valid_from: Mapped[date | None] = mapped_column(Date, default=None)
    valid_until: Mapped[date | None] = mapped_column(Date, default=None)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    phrasings: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(5), default="it")
    status: Mapped[str] = mapped_column(String(12), default="draft")
    version: Mapped[int] = mapped_column(Integer, default=1)


class ArticleVersion(IdMixin, EnteMixin, Base):
    """A snapshot of an article after each change: who, when, what; any version can be restored."""

    __tablename__ = "kb_article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    author: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class KbRevision(Base):
    """One counter per ente, bumped in the same transaction as any article change: replicas compare it to know
    their in-memory index is stale, with one tiny query per search."""

    __tablename__ = "kb_revisions"

    ente_id: Mapped[int] = mapped_column(ForeignKey("entes.id", ondelete="CASCADE"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)


class Feedback(IdMixin, EnteMixin, Base):
    __tablename__ = "kb_feedback"

    article_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id", ondelete="SET NULL"), index=True)
    query: Mapped[str] = mapped_column(String(500), default="")
    helpful: Mapped[bool] = mapped_column(Boolean)
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), default=None
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)


# what kind of miss a gap is: the curators' list shows the first two as "to write", the third on its own, because the
# citizen was told which other body handles it (an article may still help when many ask)
GapKind = Literal["unanswered", "not_helpful", "redirected"]
GAP_KINDS: tuple[str, ...] = get_args(GapKind)


class Gap(IdMixin, EnteMixin, Base):
    """A question the knowledge base could not answer (the curators' to-write list)."""

    __tablename__ = "kb_gaps"

    query: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(20), default="unanswered", server_default="unanswered")
    channel: Mapped[str] = mapped_column(String(20), default="")
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # the question's vector as the search encoded it (float32), and the embedder's name: the gap list groups the
    # questions by meaning without encoding them again (500 open gaps took 8 s of CPU at every view)
    vector: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    embedder: Mapped[str] = mapped_column(String(60), default="")

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crm.core.text import MAX_ID
from crm.kb.models import GapKind

Status = Literal["draft", "published", "archived"]
MAX_QUERY = 500


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: str = Field(min_length=2, max_length=120, pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str = Field(min_length=3, max_length=300)
    body: str = Field(min_length=10, max_length=50_000, description="Markdown")
    topic: str = Field(default="", max_length=64)
    office_id: int | None = None
    url: str = Field(default="", max_length=500)
    valid_from: date | None = None
    valid_until: date | None = None
    keywords: list[str] = Field(default_factory=list, max_length=50)
    phrasings: list[str] = Field(default_factory=list, max_length=50, description="alternative questions (FAQ)")
    language: str = Field(default="it", max_length=5)
    status: Status = "draft"

    @field_validator("body", "title")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not v.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return v

    @model_validator(mode="after")
    def _dates(self) -> ArticleIn:
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self


class ArticlePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=3, max_length=300)
    body: str | None = Field(default=None, min_length=10, max_length=50_000)
    topic: str | None = Field(default=None, max_length=64)
    office_id: int | None = None
    url: str | None = Field(default=None, max_length=500)
    valid_from: date | None = None
    valid_until: date | None = None
    keywords: list[str] | None = Field(default=None, max_length=50)
    phrasings: list[str] | None = Field(default=None, max_length=50)
    status: Status | None = None


class ArticleOut(BaseModel):
    id: int
    slug: str
    title: str
    body: str
    body_html: str
    topic: str
    office_id: int | None
    url: str
    valid_from: date | None
    valid_until: date | None
    keywords: list[str]
    phrasings: list[str]
    language: str
    status: str
    version: int
    answerable: bool
    updated_at: str


class SearchHitOut(BaseModel):
    slug: str
    title: str
    score: float
    snippet: str  # the article's opening, cut at a word ("…"): kept for older callers
    passage: str = ""  # the article's sentences that answer the question, whole, as its Markdown (what an answer shows)
    url: str
    topic: str = ""  # the article's topic: the assistant offers the report form for "report it" topics


class SearchOut(BaseModel):
    answerable: bool
    results: list[SearchHitOut]
    reason: str
    redirect: str | None = None
    confidence: float = 0.0  # the abstention model's probability that the first result answers the question


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: str | None = None
    query: str = Field(default="", max_length=MAX_QUERY)
    helpful: bool
    conversation_id: int | None = None


class GapIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=MAX_QUERY)
    channel: str = Field(default="", max_length=20)


class VersionOut(BaseModel):
    """An article as it was after one change: who, when, which fields."""

    model_config = ConfigDict(from_attributes=True)
    version: int
    author: str
    at: datetime
    changed_fields: list[str]
    snapshot: dict[str, Any]


class RestoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, le=MAX_ID)


class FeedbackOut(BaseModel):
    id: int
    helpful: bool


class FeedbackStatsOut(BaseModel):
    """The answers given from one article and how citizens judged them."""

    slug: str
    title: str
    helpful: int
    not_helpful: int
    total: int


class GapGroupOut(BaseModel):
    """Unanswered questions close in meaning: ``label`` is the first one, ``ids`` the questions to resolve."""

    label: str
    count: int
    ids: list[int]
    examples: list[str] = Field(description="up to five of the questions")
    last_at: datetime
    kinds: dict[GapKind, int] = Field(
        description="how many of the questions were unanswered, answered but judged not helpful, or redirected to "
        "another body (out of the Comune's competence)"
    )


class GapsOut(BaseModel):
    items: list[GapGroupOut]
    total: int = Field(description="groups")
    questions: int = Field(description="open questions grouped")
    counts: dict[GapKind, int] = Field(description="open questions of each kind, whatever the kind= filter")


class GapsQuery(BaseModel):
    kind: str | None = Field(
        default=None,
        description="comma-separated kinds to list (unanswered, not_helpful, redirected); all when absent",
    )


class GapsResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[int, Field(ge=0, le=MAX_ID)]] = Field(max_length=1000)


class GapsResolvedOut(BaseModel):
    resolved: int = Field(description="questions marked as handled")


class SearchQuery(BaseModel):
    q: str = Field(min_length=1, max_length=MAX_QUERY)
    k: int = Field(default=3, ge=1, le=10, description="how many results")
    channel: str = Field(default="", max_length=20, description="where the question came from (for the gap list)")
    context: str | None = Field(
        default=None,
        max_length=200,
        description="the article the citizen was just answered with: it answers a follow-up unless another is closer",
    )
    probe: bool = Field(
        default=False,
        description="true: the search only checks whether an article overrides another reply (a greeting that says "
        "a little more); an unanswered probe is not a knowledge gap",
    )


class ArticleQuery(BaseModel):
    status: Status | None = None
    topic: str | None = Field(default=None, description="topic slug")
    q: str | None = Field(default=None, description="in the title, the slug or the text")

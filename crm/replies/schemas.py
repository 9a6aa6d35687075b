from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

SHORTCUT = r"^[a-z0-9][a-z0-9-]*$"


def _text(v: object) -> object:
    # a form sends its line breaks as CRLF: the citizen's channel gets plain newlines
    return v.replace("\r\n", "\n").strip() if isinstance(v, str) else v


def _shortcut(v: object) -> object:
    return v.strip().lstrip("/").lower() if isinstance(v, str) else v


class QuickReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shortcut: str = Field(min_length=1, max_length=32, pattern=SHORTCUT, description="typed after / in the composer")
    title: str = Field(min_length=1, max_length=120)
    text: str = Field(min_length=1, max_length=4000)
    topic_id: int | None = Field(default=None, description="only for conversations of this topic; null: for all")

    _t = field_validator("title", "text", mode="before")(_text)
    _s = field_validator("shortcut", mode="before")(_shortcut)


class QuickReplyPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shortcut: str | None = Field(default=None, min_length=1, max_length=32, pattern=SHORTCUT)
    title: str | None = Field(default=None, min_length=1, max_length=120)
    text: str | None = Field(default=None, min_length=1, max_length=4000)
    topic_id: int | None = None

    _t = field_validator("title", "text", mode="before")(_text)
    _s = field_validator("shortcut", mode="before")(_shortcut)


class QuickReplyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    shortcut: str
    title: str
    text: str
    topic_id: int | None


class QuickReplyQuery(BaseModel):
    q: str | None = Field(default=None, max_length=100, description="the shortcut's start, or words of the title")
    topic_id: int | None = Field(default=None, description="those of this topic and those for every topic")


class QuickReplyDeletedOut(BaseModel):
    deleted: int

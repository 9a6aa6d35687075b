from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OfficeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=300)


class TopicIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    office_id: int
    slug: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")
    name: str = Field(min_length=1, max_length=200)


class TopicOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    office_id: int
    slug: str
    name: str


class OfficeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    code: str
    name: str
    email: str | None
    phone: str | None
    address: str | None

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["admin", "operator", "phone_operator", "backoffice"]


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


class MeOut(BaseModel):
    """The calling principal (``GET /auth/me``)."""

    ente_id: int
    role: str = Field(description="admin | operator | phone_operator | backoffice | service")
    operator_id: int | None = Field(description="null for a service token")
    username: str


class OperatorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=3, max_length=64, pattern=r"^[a-zA-Z0-9._-]+$")
    password: str = Field(min_length=10, max_length=200)
    full_name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=200)
    role: Role
    topics: list[str] = Field(default_factory=list, description="topic slugs of competence")


class OperatorPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    active: bool | None = None
    topics: list[str] | None = None
    password: str | None = Field(default=None, min_length=10, max_length=200)


class OperatorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    full_name: str
    email: str | None
    role: str
    active: bool
    topics: list[str]


class OperatorQuery(BaseModel):
    role: Role | None = Field(default=None, description="only operators with this role")

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["submitted", "protocolled", "in_charge", "integration_requested", "integrated", "accepted",
                 "rejected", "withdrawn"]


class InstanceTypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: str = Field(min_length=2, max_length=80, pattern=r"^[a-z0-9-]+$")
    title: str = Field(min_length=2, max_length=200)
    description: str = Field(default="", max_length=5000)
    office_id: int | None = None
    topic: str = Field(default="", max_length=64)
    form_schema: dict[str, Any] = Field(default_factory=dict)
    required_attachments: list[str] = Field(default_factory=list)
    verified_identity_required: bool = False
    deadline_days: int = Field(default=30, ge=1, le=365)


class InstanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(description="instance type slug")
    contact_id: int
    data: dict[str, Any] = Field(default_factory=dict)
    on_behalf_of: int | None = Field(default=None, description="contact id when an operator submits for a citizen")
    channel: Literal["web", "sms", "telegram", "email", "phone", "counter"] = "web"


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: Status
    note: str = Field(default="", max_length=5000)


class LookupIn(BaseModel):
    """Citizen-facing status look-up: the code plus something only the citizen knows."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=4, max_length=12)
    second_factor: str = Field(min_length=4, max_length=16,
                               description="last 4+ digits of the citizen's phone, or their fiscal code")


class ReferenceItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str = Field(min_length=1, max_length=120)
    label: str = Field(min_length=1, max_length=300)

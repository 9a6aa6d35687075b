from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from crm.core.text import MAX_ID

Status = Literal[
    "submitted", "protocolled", "in_charge", "integration_requested", "integrated", "accepted", "rejected", "withdrawn"
]


AttachmentKind = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9_-]+$")]
MAX_SUBMITTED_ATTACHMENTS = 10


class InstanceTypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: str = Field(min_length=2, max_length=80, pattern=r"^[a-z0-9-]+$")
    title: str = Field(min_length=2, max_length=200)
    description: str = Field(default="", max_length=5000)
    office_id: int | None = None
    topic: str = Field(default="", max_length=64)
    form_schema: dict[str, Any] = Field(default_factory=dict)
    required_attachments: list[AttachmentKind] = Field(
        default_factory=list,
        max_length=MAX_SUBMITTED_ATTACHMENTS,
        description="attachment kinds a submission must include",
    )
    verified_identity_required: bool = False
    deadline_days: int = Field(default=30, ge=1, le=365)


class InstanceTypePatch(BaseModel):
    """Partial update of a type (admins); the slug never changes. ``office_id: null`` detaches the office."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=2, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    office_id: int | None = None
    topic: str | None = Field(default=None, max_length=64)
    form_schema: dict[str, Any] | None = None
    required_attachments: list[AttachmentKind] | None = Field(default=None, max_length=MAX_SUBMITTED_ATTACHMENTS)
    verified_identity_required: bool | None = None
    deadline_days: int | None = Field(default=None, ge=1, le=365)
    active: bool | None = None


class IncludeInactiveQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_inactive: bool = Field(default=False, description="admins only: also list deactivated entries")


class AttachmentIn(BaseModel):
    """A file sent with the submission itself, base64-encoded (standard alphabet; line breaks are ignored)."""

    model_config = ConfigDict(extra="forbid")
    kind: AttachmentKind = Field(description="e.g. planimetria; the type's required_attachments name the kinds")
    filename: str = Field(min_length=1, max_length=200)
    content_type: str = Field(
        min_length=1, max_length=100, description="application/pdf, image/jpeg, image/png or image/webp"
    )
    content_base64: str = Field(min_length=1)
    _body: bytes = PrivateAttr(default=b"")

    @field_validator("content_base64")
    @classmethod
    def _base64(cls, v: str) -> str:
        v = re.sub(r"\s+", "", v)
        try:
            base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not valid base64") from None
        return v

    @model_validator(mode="after")
    def _decode(self) -> AttachmentIn:
        self._body = base64.b64decode(self.content_base64, validate=True)
        return self

    @property
    def body(self) -> bytes:
        return self._body


class InstanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(description="instance type slug")
    contact_id: int
    data: dict[str, Any] = Field(default_factory=dict)
    on_behalf_of: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="contact id when an operator submits for a citizen"
    )
    channel: Literal["web", "sms", "telegram", "email", "phone", "counter"] = "web"
    attachments: list[AttachmentIn] = Field(
        default_factory=list,
        max_length=MAX_SUBMITTED_ATTACHMENTS,
        description="files stored with the istanza in its own transaction, before protocol registration; "
        "every kind in the type's required_attachments must be present",
    )


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: Status
    note: str = Field(default="", max_length=5000)


class ReferenceItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str = Field(min_length=1, max_length=120)
    label: str = Field(min_length=1, max_length=300)


class ReferenceItemPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(default=None, min_length=1, max_length=300)
    active: bool | None = None


# --- what the API returns -------------------------------------------------------------------------------------------
class InstanceTypeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    slug: str
    title: str
    description: str
    office_id: int | None
    topic: str
    form_schema: dict[str, Any]
    required_attachments: list[str]
    verified_identity_required: bool
    deadline_days: int
    active: bool


class ReferenceItemOut(BaseModel):
    id: int
    list: str
    value: str
    label: str
    active: bool

    @classmethod
    def of(cls, list_slug: str, r: Any) -> ReferenceItemOut:
        return cls(id=r.id, list=list_slug, value=r.value, label=r.label, active=r.active)


class AttachmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    filename: str
    size: int
    sha256: str
    content_type: str
    kind: str


class InstanceEventOut(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True, populate_by_name=True)
    at: str
    actor_kind: str
    actor_name: str
    from_: str | None = Field(alias="from", serialization_alias="from")
    to: str
    note: str


class InstanceOut(BaseModel):
    id: int
    code: str
    type_id: int
    type: str | None
    contact_id: int
    data: dict[str, Any]
    status: str
    protocol_number: str | None
    protocolled_at: str | None
    deadline_at: str | None
    clock_paused: bool
    on_behalf: bool
    created_by_kind: str
    created_by_operator_id: int | None
    created_at: str
    attachments: list[AttachmentOut] | None = None
    events: list[InstanceEventOut] | None = None

    @classmethod
    def of(cls, i: Any, type_slug: str | None = None) -> InstanceOut:
        return cls(
            id=i.id,
            code=i.code,
            type_id=i.type_id,
            type=type_slug,
            contact_id=i.contact_id,
            data=i.data,
            status=i.status,
            protocol_number=i.protocol_number,
            protocolled_at=i.protocolled_at.isoformat() if i.protocolled_at else None,
            deadline_at=i.deadline_at.isoformat() if i.deadline_at else None,
            clock_paused=i.paused_at is not None,
            on_behalf=i.on_behalf,
            created_by_kind=i.created_by_kind,
            created_by_operator_id=i.created_by_operator_id,
            created_at=i.created_at.isoformat(),
        )


class InstanceLookupOut(BaseModel):
    """What a citizen may learn with the code and a second factor."""

    code: str
    type: str
    status: str
    protocol_number: str | None
    deadline: str | None


class InstanceQuery(BaseModel):
    contact_id: int | None = Field(default=None, ge=0, le=MAX_ID)
    status: Status | None = None
    type: str | None = Field(default=None, description="the type's slug")

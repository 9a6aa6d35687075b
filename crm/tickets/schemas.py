from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from crm.core.text import MAX_ID

Kind = Literal["information", "report", "complaint", "other"]
Priority = Literal["bassa", "media", "alta"]
Status = Literal["new", "in_charge", "waiting_citizen", "resolved", "closed", "rejected"]


class TicketIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: int
    kind: Kind
    topic: str | None = Field(default=None, description="topic slug")
    channel: Literal["web", "sms", "telegram", "email", "phone", "counter"] = "web"
    subject: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10000)
    priority: Priority = "media"
    conversation_id: int | None = None
    on_behalf: bool = Field(default=False, description="entered by an operator on the citizen's behalf")


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: Status
    note: str = Field(default="", max_length=5000)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operator_id: int | None


class PriorityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    priority: Priority
    note: str = Field(default="", max_length=5000)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=5000)


class TicketEventOut(BaseModel):
    """One line of a request's history."""

    at: str
    actor_kind: str
    actor_name: str
    action: str
    from_value: str | None
    to_value: str | None
    note: str


class TicketOut(BaseModel):
    id: int
    code: str
    contact_id: int
    kind: str
    topic: str | None
    channel: str
    subject: str
    description: str
    priority: str
    status: str
    assignee_id: int | None
    conversation_id: int | None
    created_by_kind: str
    created_by_operator_id: int | None
    on_behalf: bool
    created_at: str
    due_at: str
    taken_at: str | None
    resolved_at: str | None
    sla_breached: bool
    sla_remaining_seconds: int | None
    events: list[TicketEventOut] | None = None


class SlaPriorityOut(BaseModel):
    """Take-in-charge SLAs of one priority: met, breached, still running."""

    sla_hours: int = Field(description="working hours to take a request in charge")
    total: int
    met: int
    breached: int
    pending: int
    compliance: float | None = Field(description="met / (met + breached); null before any is decided")
    meets_target: bool | None


class SlaOut(BaseModel):
    target: float = Field(description="the compliance to reach, 0-1")
    by_priority: dict[Priority, SlaPriorityOut]


class SlaQuery(BaseModel):
    since: str | None = Field(default=None, description="ISO 8601 date-time with offset: requests opened from then")


class TicketQuery(BaseModel):
    status: Status | None = None
    priority: Priority | None = None
    kind: Kind | None = None
    channel: str | None = None
    contact_id: int | None = Field(default=None, ge=0, le=MAX_ID)
    assignee_id: Annotated[int, Field(ge=0, le=MAX_ID)] | Literal["me"] | None = Field(
        default=None, description="an operator's id, or me"
    )
    topic: str | None = Field(default=None, description="topic slug")
    open: Literal["1", "true"] | None = Field(default=None, description="only open requests")
    breached: Literal["1", "true"] | None = Field(default=None, description="only requests past their SLA")
    q: str | None = Field(default=None, description="code, subject or description")

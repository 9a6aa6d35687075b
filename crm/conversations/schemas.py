from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from crm.core.text import MAX_ID


class MessageIn(BaseModel):
    """An operator's reply (goes out on the citizen's channel) or an internal note (private)."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)
    private: bool = False


class HandoffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    topic: str | None = Field(default=None, description="topic slug of the competent queue")
    summary: str = Field(default="", max_length=2000)
    context: dict[str, Any] = Field(default_factory=dict)


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    topic: str | None = None
    operator_id: int | None = None


class MessageOut(BaseModel):
    id: int
    conversation_id: int
    channel: str
    direction: Literal["in", "out"]
    author_kind: str
    author_operator_id: int | None
    text: str
    attachments: list[dict[str, Any]]
    payload: dict[str, Any]
    private: bool
    channel_message_id: str | None
    delivery_status: str
    created_at: str


class ConversationOut(BaseModel):
    id: int
    contact_id: int
    channel: str
    mode: str
    assignee_id: int | None
    topic_id: int | None
    topic: str | None
    handoff_summary: str
    handoff_context: dict[str, Any]
    created_at: str
    last_message_at: str
    handoff_at: str | None
    taken_at: str | None
    first_response_at: str | None
    closed_at: str | None
    waiting_seconds: int | None


class ConversationDetailOut(ConversationOut):
    """A conversation with its messages (a service token does not see the internal notes)."""

    messages: list[MessageOut]


class UrpOfficeOut(BaseModel):
    """The URP office (code URP): what the assistant tells citizens; nulls for an ente without one."""

    name: str | None
    phone: str | None
    email: str | None
    address: str | None


class DeskOut(BaseModel):
    open: bool
    next_opening: str | None = Field(description="ISO 8601 in the ente's time zone; null without office hours")
    waiting: int = Field(description="conversations handed off and not yet taken")
    typical_wait_minutes: int | None = Field(description="median wait of the last ones taken; null without history")
    office_hours: str = Field(description="in Italian, as a citizen reads them")
    urp: UrpOfficeOut


class ConversationQuery(BaseModel):
    mode: Literal["bot", "waiting", "assigned", "closed", "open"] | None = None
    topic: str | None = Field(default=None, description="topic slug")
    assignee: Annotated[int, Field(ge=0, le=MAX_ID)] | Literal["me"] | None = Field(
        default=None, description="an operator's id, or me"
    )
    contact_id: int | None = Field(default=None, ge=0, le=MAX_ID)
    channel: str | None = None

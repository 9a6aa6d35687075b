"""The hub's durable turn queue: one row per citizen message the assistant has to answer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, EnteMixin, IdMixin, utcnow

STATES = ("queued", "running", "done")
OUTCOMES = ("bot", "holding", "operators", "stale")


class TurnJob(IdMixin, EnteMixin, Base):
    """A stored inbound message waiting for (or getting) the assistant's answer.

    Per conversation, turns run one at a time in arrival order: a turn is taken only when it is the oldest
    unfinished one of its conversation. A running turn holds a lease that its worker renews; a worker that dies
    (kill -9) lets the lease run out and another worker, or the restarted one, takes the turn again."""

    __tablename__ = "turns"
    __table_args__ = (
        Index("ix_turns_conversation_state", "conversation_id", "state"),
        Index("ix_turns_state_lease", "state", "lease_until"),
    )

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    state: Mapped[str] = mapped_column(String(10), default="queued")
    owner: Mapped[str | None] = mapped_column(String(40), default=None)  # the worker holding the lease
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[str | None] = mapped_column(String(12), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, EnteMixin, IdMixin, TimestampMixin


class QuickReply(IdMixin, EnteMixin, TimestampMixin, Base):
    """A text an operator inserts into a reply with ``/<shortcut>``; for every topic, or for one."""

    __tablename__ = "quick_replies"
    __table_args__ = (UniqueConstraint("ente_id", "shortcut"),)

    shortcut: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"), default=None)

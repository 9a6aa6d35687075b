from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.db import Base, EnteMixin, IdMixin, TimestampMixin
from crm.offices.models import Topic

operator_topics = Table(
    "operator_topics",
    Base.metadata,
    Column("operator_id", Integer, ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", Integer, ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
)


class Operator(IdMixin, EnteMixin, TimestampMixin, Base):
    """A staff member. Usernames are unique across the installation so login needs no ente selector."""

    __tablename__ = "operators"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(200), default=None)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)

    topics: Mapped[list[Topic]] = relationship(secondary=operator_topics, lazy="selectin")

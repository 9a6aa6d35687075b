from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.db import Base, EnteMixin, IdMixin, TimestampMixin


class Office(IdMixin, EnteMixin, TimestampMixin, Base):
    __tablename__ = "offices"
    __table_args__ = (UniqueConstraint("ente_id", "code"),)

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200), default=None)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    address: Mapped[str | None] = mapped_column(String(300), default=None)

    topics: Mapped[list[Topic]] = relationship(back_populates="office", order_by="Topic.name")


class Topic(IdMixin, EnteMixin, TimestampMixin, Base):
    __tablename__ = "topics"
    __table_args__ = (UniqueConstraint("ente_id", "slug"),)

    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    # this topic's first-response target for handed-off chats (minutes of office time); None: the ente's
    chat_first_response_minutes: Mapped[int | None] = mapped_column(default=None)

    office: Mapped[Office] = relationship(back_populates="topics")

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, IdMixin, TimestampMixin


class Ente(IdMixin, TimestampMixin, Base):
    """A municipality served by this installation; every other record hangs off one."""

    __tablename__ = "entes"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Rome")
    office_hours: Mapped[str] = mapped_column(String(200), default="mon-fri 08:00-12:30,14:00-17:00")
    patron_day: Mapped[str | None] = mapped_column(String(5), default=None)
    # the first reply an operator owes a chat handed off to them, in minutes of office time (Zammad's "first response
    # time"); a topic may set its own (``Topic.chat_first_response_minutes``)
    chat_first_response_minutes: Mapped[int] = mapped_column(default=5)

    @property
    def tz(self) -> ZoneInfo:
        """The ente's time zone, in which every date and time shown to citizens and operators is given."""
        return ZoneInfo(self.timezone)


class ServiceToken(IdMixin, TimestampMixin, Base):
    """An API token for a machine (action server, channel hub) bound to one ente; only its SHA-256 is stored."""

    __tablename__ = "service_tokens"

    ente_id: Mapped[int] = mapped_column(ForeignKey("entes.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

"""Sign-ins in progress and signed-in sessions of citizens, both server-side. A citizen's session is a row of the
shared sessions table (``crm.core.sessions``, expiry and revocation, as for operators) plus what only citizens have;
the cookie is the session id with an HMAC, so a session can be revoked (logout everywhere) and a stolen database
yields no cookie."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, EnteMixin, IdMixin, utcnow


class CitizenLogin(IdMixin, EnteMixin, Base):
    """One authorization request between the redirect to the provider and its callback; deleted when used."""

    __tablename__ = "citizen_logins"

    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(30))
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(100))
    next_path: Mapped[str] = mapped_column(String(300), default="/sportello/area-personale")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class CitizenSession(IdMixin, EnteMixin, Base):
    """What a citizen's session adds to the shared one (``crm.core.sessions.AuthSession``, kind ``citizen``, which
    holds its expiry and revocation for operators and citizens alike): the provider, the level of assurance and the
    last activity (citizens are signed out after an idle time). The cookie names ``sid`` with an HMAC, so the table
    alone (a stolen copy of the database) yields no usable cookie."""

    __tablename__ = "citizen_sessions"
    __table_args__ = (Index("ix_citizen_sessions_contact", "ente_id", "contact_id"),)

    sid: Mapped[str] = mapped_column(String(32), unique=True)  # crm.core.sessions.AuthSession.id
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(30))
    level: Mapped[int] = mapped_column(Integer, default=0)  # level of assurance: SpidL1-3 / CIE L1-3
    acr: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class MergeRefusal(IdMixin, EnteMixin, Base):
    """A citizen said no to folding another contact with their phone or e-mail into their profile: the offer is not
    made again (an operator can still merge them in the console, e.g. on the citizen's request)."""

    __tablename__ = "citizen_merge_refusals"
    __table_args__ = (UniqueConstraint("contact_id", "source_id"),)

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)

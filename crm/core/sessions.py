"""Server-side sign-in sessions, so a token or cookie can be taken back before it expires.

A bearer token (and the console cookie, which carries the same token) names a session row by its ``sid`` claim;
every request checks that the row is live. Logout revokes the caller's session; a password change, a role change
or a deactivation revokes every session of that person. Operators and, later, signed-in citizens (``kind``) share
the table: ``subject_id`` is the operator's or the citizen's id in their own table.

Rows are written at sign-in and revocation only (never per request); expired rows are pruned at sign-in, bounded.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import Index, Integer, String, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, EnteMixin, utcnow

PRUNE_BATCH = 500
KINDS = ("operator", "citizen")


class AuthSession(EnteMixin, Base):
    """One signed-in session. Created by the ``security_0001`` migration."""

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_subject", "kind", "subject_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the token's ``sid`` claim
    kind: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_why: Mapped[str] = mapped_column(String(40), default="")


async def open_session(
    session: AsyncSession, *, ente_id: int, kind: str, subject_id: int, ttl: timedelta
) -> AuthSession:
    """A new live session for ``subject_id`` (the caller issues the token naming ``row.id``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown session kind {kind!r}")
    now = utcnow()
    await prune(session, now=now)
    row = AuthSession(
        id=secrets.token_urlsafe(18),
        ente_id=ente_id,
        kind=kind,
        subject_id=subject_id,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    await session.flush()
    return row


async def is_live(session: AsyncSession, sid: str, *, kind: str, subject_id: int) -> bool:
    row = await session.get(AuthSession, sid)
    return (
        row is not None
        and row.kind == kind
        and row.subject_id == subject_id
        and row.revoked_at is None
        and row.expires_at > utcnow()
    )


async def revoke(session: AsyncSession, sid: str, *, why: str = "logout") -> bool:
    """Revoke one session (logout). True if it was live."""
    result = await session.execute(
        update(AuthSession)
        .where(AuthSession.id == sid, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_why=why)
    )
    return bool(getattr(result, "rowcount", 0))


async def revoke_all(session: AsyncSession, *, kind: str, subject_id: int, why: str, keep: str | None = None) -> int:
    """Revoke every live session of a person (password or role change, deactivation), except ``keep`` (the session
    of a person changing their own password stays signed in). Returns how many were revoked."""
    stmt = update(AuthSession).where(
        AuthSession.kind == kind,
        AuthSession.subject_id == subject_id,
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > utcnow(),
    )
    if keep is not None:
        stmt = stmt.where(AuthSession.id != keep)
    result = await session.execute(stmt.values(revoked_at=utcnow(), revoked_why=why))
    return int(getattr(result, "rowcount", 0) or 0)


async def live_count(session: AsyncSession, *, kind: str, subject_id: int) -> int:
    rows = await session.scalars(
        select(AuthSession.id).where(
            AuthSession.kind == kind,
            AuthSession.subject_id == subject_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > utcnow(),
        )
    )
    return len(rows.all())


async def prune(session: AsyncSession, *, now: datetime | None = None, batch: int = PRUNE_BATCH) -> int:
    """Delete up to ``batch`` sessions that expired more than a day ago (kept a day for the record of logouts)."""
    cutoff = (now or utcnow()) - timedelta(days=1)
    ids = select(AuthSession.id).where(AuthSession.expires_at < cutoff).limit(batch)
    result = await session.execute(delete(AuthSession).where(AuthSession.id.in_(ids)))
    return int(getattr(result, "rowcount", 0) or 0)

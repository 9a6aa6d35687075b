"""Operator accounts and login. Passwords are hashed with Argon2id; repeated failures lock the account."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.core.errors import Conflict, NotFound, TooManyRequests, Unauthorized, ValidationFailed
from crm.db import utcnow
from crm.offices.models import Topic
from crm.operators.models import Operator
from crm.operators.schemas import OperatorIn, OperatorOut, OperatorPatch

_hasher = PasswordHasher()
# verified against when the username is unknown, so timing does not reveal which usernames exist
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def to_out(op: Operator) -> OperatorOut:
    return OperatorOut(
        id=op.id,
        username=op.username,
        full_name=op.full_name,
        email=op.email,
        role=op.role,
        active=op.active,
        topics=sorted(t.slug for t in op.topics),
    )


async def _topics(session: AsyncSession, ente_id: int, slugs: list[str]) -> list[Topic]:
    if not slugs:
        return []
    topics = (await session.scalars(select(Topic).where(Topic.ente_id == ente_id, Topic.slug.in_(slugs)))).all()
    missing = set(slugs) - {t.slug for t in topics}
    if missing:
        raise ValidationFailed(f"unknown topics: {', '.join(sorted(missing))}", fields={"topics": "unknown topic"})
    return list(topics)


async def create(session: AsyncSession, *, ente_id: int, data: OperatorIn) -> Operator:
    if await session.scalar(select(Operator.id).where(Operator.username == data.username)):
        raise Conflict(f"username {data.username!r} is taken", fields={"username": "already used"})
    op = Operator(
        ente_id=ente_id,
        username=data.username,
        full_name=data.full_name,
        email=data.email,
        role=data.role,
        password_hash=hash_password(data.password),
        topics=await _topics(session, ente_id, data.topics),
    )
    session.add(op)
    await session.flush()
    return op


async def update(session: AsyncSession, *, ente_id: int, operator_id: int, data: OperatorPatch) -> Operator:
    op = await get(session, ente_id=ente_id, operator_id=operator_id)
    for field in ("full_name", "email", "role", "active"):
        value = getattr(data, field)
        if value is not None:
            setattr(op, field, value)
    if data.topics is not None:
        op.topics = await _topics(session, ente_id, data.topics)
    if data.password is not None:
        op.password_hash = hash_password(data.password)
    await session.flush()
    return op


async def reset_password(session: AsyncSession, *, ente_id: int, operator_id: int, password: str) -> Operator:
    """An administrator sets a new password (validated by the caller with OperatorPatch, as the API does); it also
    lifts a lock left by failed logins."""
    op = await get(session, ente_id=ente_id, operator_id=operator_id)
    op.password_hash = hash_password(password)
    op.failed_logins = 0
    op.locked_until = None
    await session.flush()
    return op


async def get(session: AsyncSession, *, ente_id: int, operator_id: int) -> Operator:
    op = await session.scalar(select(Operator).where(Operator.ente_id == ente_id, Operator.id == operator_id))
    if op is None:
        raise NotFound("operator not found")
    return op


async def list_(session: AsyncSession, *, ente_id: int) -> Sequence[Operator]:
    return (await session.scalars(list_stmt(ente_id=ente_id).order_by(Operator.username))).all()


def list_stmt(*, ente_id: int, role: str | None = None) -> Select[tuple[Operator]]:
    stmt = select(Operator).where(Operator.ente_id == ente_id)
    if role:
        stmt = stmt.where(Operator.role == role)
    return stmt


async def authenticate(
    session: AsyncSession, *, username: str, password: str, max_failures: int, lockout_seconds: int
) -> Operator:
    """Check credentials; after ``max_failures`` wrong passwords the account is locked for a while (429)."""
    op = await session.scalar(select(Operator).where(Operator.username == username))
    now = utcnow()
    if op is None or not op.active:
        try:
            _hasher.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        raise Unauthorized("invalid username or password")
    if op.locked_until and op.locked_until > now:
        raise TooManyRequests("too many failed logins; try again later")
    try:
        _hasher.verify(op.password_hash, password)
    except (VerificationError, InvalidHashError):
        op.failed_logins += 1
        if op.failed_logins >= max_failures:
            op.locked_until = now + timedelta(seconds=lockout_seconds)
            op.failed_logins = 0
        raise Unauthorized("invalid username or password") from None
    if _hasher.check_needs_rehash(op.password_hash):
        op.password_hash = hash_password(password)
    op.failed_logins = 0
    op.locked_until = None
    op.last_login_at = now
    return op

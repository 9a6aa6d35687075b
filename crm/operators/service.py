"""Operator accounts and sign-in. Passwords are hashed with Argon2id; failed sign-ins are throttled per address,
per account and address, and per account from unknown devices (``crm.core.throttle``); a session is a server-side row
(``crm.core.sessions``) that logout, a password change, a role change or a deactivation revokes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.core import sessions, throttle
from crm.core.auth import issue_token
from crm.core.errors import Conflict, Unauthorized, ValidationFailed
from crm.core.records import get_in_ente
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


async def update(
    session: AsyncSession,
    *,
    ente_id: int,
    operator_id: int,
    data: OperatorPatch,
    keep_session: str | None = None,
    actor_id: int | None = None,
) -> Operator:
    """A new role, a new password or a deactivation ends the operator's sessions at once (their tokens and console
    cookies stop working), except ``keep_session``: the caller's own, when they change their own password. Nobody
    changes their own role or deactivates themselves (``actor_id``): an installation never loses its last admin
    that way."""
    op = await get(session, ente_id=ente_id, operator_id=operator_id)
    if actor_id == op.id and ((data.role is not None and data.role != op.role) or data.active is False):
        raise Conflict(
            "you cannot change your own role or deactivate yourself",
            fields={"role" if data.role is not None and data.role != op.role else "active": "yourself"},
        )
    why = (
        "role"
        if data.role is not None and data.role != op.role
        else "deactivated"
        if data.active is False and op.active
        else "password"
        if data.password is not None
        else None
    )
    for field in ("full_name", "email", "role", "active"):
        value = getattr(data, field)
        if value is not None:
            setattr(op, field, value)
    if data.topics is not None:
        op.topics = await _topics(session, ente_id, data.topics)
    if data.password is not None:
        op.password_hash = hash_password(data.password)
        await throttle.release_account(session, realm=REALM, account=op.username)
    if why is not None:
        await sessions.revoke_all(
            session, kind="operator", subject_id=op.id, why=why, keep=keep_session if why == "password" else None
        )
    await session.flush()
    return op


async def reset_password(
    session: AsyncSession, *, ente_id: int, operator_id: int, password: str, keep_session: str | None = None
) -> Operator:
    """An administrator sets a new password (validated by the caller with OperatorPatch, as the API does): the
    operator's other sessions end, and the account-wide sign-in throttle is lifted."""
    op = await get(session, ente_id=ente_id, operator_id=operator_id)
    op.password_hash = hash_password(password)
    await sessions.revoke_all(session, kind="operator", subject_id=op.id, why="password", keep=keep_session)
    await throttle.release_account(session, realm=REALM, account=op.username)
    await session.flush()
    return op


async def get(session: AsyncSession, *, ente_id: int, operator_id: int) -> Operator:
    return await get_in_ente(session, Operator, ente_id=ente_id, record_id=operator_id, what="operator")


async def list_(session: AsyncSession, *, ente_id: int) -> Sequence[Operator]:
    return (await session.scalars(list_stmt(ente_id=ente_id).order_by(Operator.username))).all()


def list_stmt(*, ente_id: int, role: str | None = None) -> Select[tuple[Operator]]:
    stmt = select(Operator).where(Operator.ente_id == ente_id)
    if role:
        stmt = stmt.where(Operator.role == role)
    return stmt


REALM = "operator"


def policy(settings: Any) -> throttle.Policy:
    return throttle.Policy(
        per_pair=settings.login_max_failures,
        per_account=settings.login_max_failures_account,
        per_address=settings.login_max_failures_address,
        window=timedelta(seconds=settings.login_window_seconds),
    )


async def authenticate(
    session: AsyncSession, *, username: str, password: str, attempt: throttle.Attempt, policy: throttle.Policy
) -> Operator:
    """Check credentials. A throttled attempt gets 429 before the password is looked at; an unknown username, a
    disabled account and a wrong password all get the same 401 (after the same Argon2 work) and count the same."""
    await throttle.check(session, attempt, policy)
    op = await session.scalar(select(Operator).where(Operator.username == username))
    ok = False
    try:
        ok = _hasher.verify(op.password_hash if op is not None and op.active else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        pass
    if op is None or not op.active or not ok:
        await throttle.failed(session, attempt, policy)
        raise Unauthorized("invalid username or password")
    await throttle.succeeded(session, attempt, policy)
    if _hasher.check_needs_rehash(op.password_hash):
        op.password_hash = hash_password(password)
    op.last_login_at = utcnow()
    return op


async def start_session(session: AsyncSession, op: Operator, *, secret: str, ttl_minutes: int) -> str:
    """A new server-side session for a signed-in operator, and the bearer token (also the console cookie) naming
    it."""
    row = await sessions.open_session(
        session, ente_id=op.ente_id, kind="operator", subject_id=op.id, ttl=timedelta(minutes=ttl_minutes)
    )
    return issue_token(
        secret,
        operator_id=op.id,
        ente_id=op.ente_id,
        role=op.role,
        username=op.username,
        ttl_minutes=ttl_minutes,
        sid=row.id,
    )

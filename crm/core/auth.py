"""Authentication (operator JWTs, service tokens) and the per-route role check.

Every ``/api/v1`` handler is wrapped in ``@authorized(...)``; ``tests/test_auth.py`` walks the router and fails
for any route that is reachable without credentials.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import wraps
from typing import Any, Protocol, TypeVar

import jwt
from sanic import Request
from sanic.response import HTTPResponse
from sqlalchemy.ext.asyncio import AsyncSession

from crm.core.cookies import COOKIE, check_csrf
from crm.core.errors import Forbidden, Unauthorized
from crm.db import utcnow

ROLES = ("admin", "operator", "phone_operator", "backoffice")
SERVICE = "service"
CITIZEN = "citizen"  # a signed-in citizen (sportello digitale), acting on their own records only
SYSTEM = "system"  # the scheduler and the CLI: no person behind it
STAFF = ROLES  # any signed-in operator


@dataclass(frozen=True)
class Principal:
    """Who is calling: an operator (with id), a service account (the action server, the channel hub), a citizen
    signed in to the sportello digitale (with the contact they are), or the system itself (scheduler, CLI)."""

    ente_id: int
    role: str
    operator_id: int | None
    username: str
    session_id: str | None = None  # the server-side session behind an operator's token (logout revokes it)
    contact_id: int | None = None  # set for citizens: the records they may act on are this contact's

    @property
    def is_service(self) -> bool:
        return self.role == SERVICE

    @property
    def is_citizen(self) -> bool:
        """A citizen signed in to the sportello digitale (SPID/CIE), acting on their own records only."""
        return self.role == CITIZEN

    @property
    def is_system(self) -> bool:
        return self.role == SYSTEM

    @property
    def actor_kind(self) -> str:
        """The audit log's actor kind: operator | service | citizen | system."""
        return {SERVICE: "service", CITIZEN: "citizen", SYSTEM: "system"}.get(self.role, "operator")

    @property
    def actor_id(self) -> int | None:
        """The audit log's actor id: the operator, or the contact for a citizen."""
        return self.contact_id if self.is_citizen else self.operator_id

    @classmethod
    def system(cls, ente_id: int, name: str = "system") -> Principal:
        """The scheduler or the CLI acting on an ente."""
        return cls(ente_id=ente_id, role=SYSTEM, operator_id=None, username=name)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    secret: str, *, operator_id: int, ente_id: int, role: str, username: str, ttl_minutes: int, sid: str
) -> str:
    """A signed token for an operator's session ``sid`` (``crm.core.sessions``): it works while the session is live,
    so logout and a password or role change take it back before ``exp``."""
    now = utcnow()
    claims = {
        "sid": sid,
        "sub": str(operator_id),
        "ente": ente_id,
        "role": role,
        "usr": username,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=ttl_minutes)).timestamp()),
        "typ": "access",
    }
    return jwt.encode(claims, secret, algorithm="HS256")


async def resolve_principal(request: Request) -> Principal | None:
    """Principal from ``Authorization: Bearer``; a console session cookie is resolved by the console layer."""
    existing: Principal | None = getattr(request.ctx, "principal", None)
    if existing is not None:
        return existing
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None
        # the console's session cookie: unsafe methods must carry the CSRF token bound to it
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            check_csrf(
                request, request.headers.get("x-csrf-token") or (request.form.get("csrf") if request.form else None)
            )
        token = cookie
    token = token.strip()
    settings = request.app.ctx.settings
    if token.count(".") == 2:
        claims = token_claims(settings.secret_key.get_secret_value(), token)
        if claims is None:
            raise Unauthorized("invalid or expired token")
        return await _operator_principal(request, claims[0], claims[1])
    return await _service_principal(request, token)


def token_claims(secret: str, token: str, *, verify_exp: bool = True) -> tuple[int, str] | None:
    """(operator id, session id) of a well-formed token signed by us, else None. Tokens without a session id
    (issued before sessions were server-side) are refused."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"verify_exp": verify_exp})
        return int(claims["sub"]), str(claims["sid"])
    except (jwt.PyJWTError, KeyError, ValueError, TypeError):
        return None


class PrincipalStore(Protocol):
    """Where principals come from: the operators and the service tokens of the entes. The domains that own them
    provide it (``crm.operators.principals``, set on ``app.ctx.principals`` by ``crm.operators.setup``), so the core
    imports no domain."""

    async def operator(self, session: AsyncSession, operator_id: int) -> Principal | None: ...

    async def service(self, session: AsyncSession, token: str, settings: Any) -> Principal | None: ...


async def _operator_principal(request: Request, operator_id: int, sid: str) -> Principal:
    from crm.core import sessions

    store: PrincipalStore = request.app.ctx.principals
    async with request.app.ctx.read_sessionmaker() as session:
        principal = await store.operator(session, operator_id)
        live = await sessions.is_live(session, sid, kind="operator", subject_id=operator_id)
    if principal is None:
        raise Unauthorized("operator disabled or unknown")
    if not live:
        raise Unauthorized("session ended; sign in again")
    return replace(principal, session_id=sid)


async def _service_principal(request: Request, token: str) -> Principal:
    store: PrincipalStore = request.app.ctx.principals
    async with request.app.ctx.read_sessionmaker() as session:
        principal = await store.service(session, token, request.app.ctx.settings)
    if principal is None:
        raise Unauthorized("invalid token")
    return principal


Handler = Callable[..., Awaitable[HTTPResponse]]


def authorized(*roles: str) -> Callable[[Handler], Handler]:
    """Require a principal; with roles, require one of them (401 without credentials, 403 for a wrong role)."""

    def decorator(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            principal = await resolve_principal(request)
            if principal is None:
                raise Unauthorized("authentication required")
            if roles and principal.role not in roles:
                raise Forbidden(f"role {principal.role!r} may not do this")
            request.ctx.principal = principal
            return await handler(request, *args, **kwargs)

        wrapper.__authorized__ = roles or ("*",)  # type: ignore[attr-defined]
        return wrapper

    return decorator


AnyHandler = TypeVar("AnyHandler", bound=Callable[..., Awaitable[Any]])


def public(handler: AnyHandler) -> AnyHandler:
    """Mark a route as intentionally reachable without credentials (login, health, webhooks that verify signatures,
    the web chat's websocket)."""
    handler.__authorized__ = ("public",)  # type: ignore[attr-defined]
    return handler


def principal_of(request: Request) -> Principal:
    principal: Principal = request.ctx.principal  # set by @authorized
    return principal

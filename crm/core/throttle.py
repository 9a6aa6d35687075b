"""Sign-in throttling that slows guessing without letting a stranger lock a person out.

Failed sign-ins are counted (``crm.core.ratelimit``, shared by replicas) under three keys, for a sliding window:

- the **source address**: too many failures from one address, whatever the usernames, and that address waits (a
  password spray over 40 usernames stops at ``per_address``);
- the **account from that address**: a few wrong passwords for one username from one address, and that pair waits;
- the **account from anywhere**: more failures, spread over addresses, and the account waits, *except on a device
  it has signed in from before*.

The last point is what keeps an attacker from locking an operator out: a successful sign-in leaves a signed
**device cookie** (OWASP's "device cookies"); a sign-in that presents a valid one for that username is counted only
under its own key and ignores the other three. An attacker without the cookie exhausts only what an unknown device
could do.

Unknown usernames are counted exactly like existing ones, and a throttled sign-in is answered before the password is
checked, so the answers (401 for a wrong pair, 429 while throttled) never tell whether a username exists.
``realm`` separates operators from citizens (the sportello's own sign-in can use the same guard).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sanic import Request
from sanic.response import HTTPResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.core import ratelimit
from crm.core.ratelimit import Limit, RateLimitHit
from crm.db import utcnow

DEVICE_COOKIE = "urp_device"
DEVICE_MAX_AGE = 180 * 24 * 3600
MESSAGE = "too many failed sign-ins; try again later"


@dataclass(frozen=True)
class Policy:
    per_pair: int = 5  # wrong passwords for one account from one address (and per known device)
    per_account: int = 10  # for one account from unknown devices, all addresses together
    per_address: int = 20  # from one address, all accounts together
    window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Attempt:
    """Who is trying: ``account`` is the username as typed (normalised here), ``device`` the nonce of a valid device
    cookie for that account, if any."""

    realm: str
    account: str
    address: str
    device: str | None = None

    @property
    def _acct(self) -> str:
        return ratelimit.digest(f"{self.realm}:{self.account.strip().lower()}")

    def limits(self, policy: Policy) -> list[Limit]:
        if self.device is not None:
            return [Limit(f"signin:device:{ratelimit.digest(self.device)}", policy.per_pair, policy.window, MESSAGE)]
        addr = ratelimit.digest(self.address)
        return [
            Limit(f"signin:addr:{addr}", policy.per_address, policy.window, MESSAGE),
            Limit(f"signin:pair:{self._acct}:{addr}", policy.per_pair, policy.window, MESSAGE),
            Limit(f"signin:acct:{self._acct}", policy.per_account, policy.window, MESSAGE),
        ]

    @property
    def account_key(self) -> str:
        return f"signin:acct:{self._acct}"


def source_address(request: Request) -> str:
    """The client's address: ``remote_addr`` when a trusted proxy count is configured (``URP_PROXIES_COUNT``),
    else the peer's address."""
    return request.remote_addr or request.ip or "unknown"


def attempt_from(request: Request, *, realm: str, account: str) -> Attempt:
    """The attempt of this request: its source address, and its device cookie if it is valid for ``account``."""
    secret = request.app.ctx.settings.secret_key.get_secret_value()
    device = device_of(secret, realm, account, request.cookies.get(DEVICE_COOKIE))
    return Attempt(realm=realm, account=account, address=source_address(request), device=device)


def remember_device(response: HTTPResponse, request: Request, attempt: Attempt) -> None:
    """After a successful sign-in from a device without a valid cookie, give it one (HttpOnly, SameSite=Strict,
    Secure on https) so that a stranger's failures never keep this person out of it."""
    if attempt.device is not None:
        return
    settings = request.app.ctx.settings
    value = new_device_cookie(settings.secret_key.get_secret_value(), attempt.realm, attempt.account)
    response.add_cookie(
        DEVICE_COOKIE,
        value,
        httponly=True,
        samesite="Strict",
        path="/",
        max_age=DEVICE_MAX_AGE,
        secure=settings.public_url.startswith("https://"),
    )


def _sign(secret: str, realm: str, account: str, nonce: str) -> str:
    msg = f"device:{realm}:{account.strip().lower()}:{nonce}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()[:32]


def new_device_cookie(secret: str, realm: str, account: str) -> str:
    nonce = secrets.token_urlsafe(12)
    return f"{nonce}.{_sign(secret, realm, account, nonce)}"


def device_of(secret: str, realm: str, account: str, cookie: str | None) -> str | None:
    """The device nonce if ``cookie`` is a device cookie this installation issued for ``account``, else None."""
    if not cookie or "." not in cookie:
        return None
    nonce, _, mac = cookie.partition(".")
    return nonce if hmac.compare_digest(mac, _sign(secret, realm, account, nonce)) else None


async def check(session: AsyncSession, attempt: Attempt, policy: Policy) -> None:
    """Raise ``TooManyRequests`` (429, Retry-After) while the attempt is throttled; call before checking the
    password."""
    await ratelimit.check(session, attempt.limits(policy))


async def failed(session: AsyncSession, attempt: Attempt, policy: Policy) -> None:
    """Count a failed sign-in (the caller commits it even though the request then fails)."""
    await ratelimit.hit(session, attempt.limits(policy))


async def succeeded(session: AsyncSession, attempt: Attempt, policy: Policy) -> None:
    """A successful sign-in forgets the failures of this account from this address (or this device); what others
    did elsewhere stays counted."""
    limits = attempt.limits(policy)
    for lim in limits:
        if lim.key.startswith(("signin:pair:", "signin:device:")):
            await ratelimit.clear(session, lim.key)


async def account_waits_until(session: AsyncSession, *, realm: str, account: str, policy: Policy) -> datetime | None:
    """Until when the account is throttled for unknown devices (for the admin's screens), or None."""
    key = Attempt(realm, account, "").account_key
    now = utcnow()
    rows = (
        await session.scalars(
            select(RateLimitHit.expires_at)
            .where(RateLimitHit.key == key, RateLimitHit.expires_at > now)
            .order_by(RateLimitHit.expires_at)
        )
    ).all()
    if len(rows) < policy.per_account:
        return None
    return rows[len(rows) - policy.per_account]


async def release_account(session: AsyncSession, *, realm: str, account: str) -> None:
    """An administrator lifts the account-wide throttle (e.g. after resetting the password)."""
    await ratelimit.clear(session, Attempt(realm, account, "").account_key)

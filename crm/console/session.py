"""Console sessions: an HttpOnly, SameSite=Strict cookie holding a short-lived signed token; CSRF tokens bound to it."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse, redirect

from crm.core.auth import Principal, public, resolve_principal
from crm.core.errors import Forbidden, Unauthorized

COOKIE = "urp_session"
PRELOGIN = "urp_prelogin"


def csrf_for(secret: str, session_token: str) -> str:
    return hmac.new(secret.encode(), b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()[:40]


def set_cookie(response: HTTPResponse, request: Request, name: str, value: str, max_age: int) -> None:
    secure = request.app.ctx.settings.public_url.startswith("https://")
    response.add_cookie(name, value, httponly=True, samesite="Strict", secure=secure, max_age=max_age,
                        path="/")


def new_prelogin() -> str:
    return secrets.token_urlsafe(24)


def check_csrf(request: Request, given: str | None) -> None:
    token = request.cookies.get(COOKIE, "")
    expected = csrf_for(request.app.ctx.settings.secret_key.get_secret_value(), token)
    if not token or not given or not hmac.compare_digest(given, expected):
        raise Forbidden("invalid or missing CSRF token")


async def current(request: Request) -> Principal | None:
    try:
        return await resolve_principal(request)
    except Unauthorized:  # an expired cookie just means "sign in again"; a bad CSRF token is a 403
        return None


def context(request: Request, principal: Principal | None, **kw: Any) -> dict[str, Any]:
    token = request.cookies.get(COOKIE, "")
    csrf = csrf_for(request.app.ctx.settings.secret_key.get_secret_value(), token) if token else ""
    return {"principal": principal, "csrf": csrf, "path": request.path, **kw}


async def require(request: Request, *roles: str) -> Principal | None:
    """The signed-in staff member (None: not signed in), checked against ``roles`` when given (403 otherwise)."""
    p = await current(request)
    if p is None or p.is_service:
        return None
    request.ctx.principal = p
    if roles and p.role not in roles:
        raise Forbidden("non autorizzato")
    return p


PageHandler = Callable[..., Awaitable[HTTPResponse]]


def console_page(*roles: str) -> Callable[[PageHandler], PageHandler]:
    """Guard of every console route, in one place: not signed in -> the login page; a role not in ``roles`` -> 403;
    a POST without the session's CSRF token -> 403. The handler receives the principal after the request."""

    def decorate(handler: PageHandler) -> PageHandler:
        @functools.wraps(handler)
        async def guarded(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            p = await require(request, *roles)
            if p is None:
                return redirect("/console/login", status=303 if request.method == "POST" else 302)
            if request.method == "POST":
                check_csrf(request, (request.form or {}).get("csrf"))
            return await handler(request, p, *args, **kwargs)

        # the API's bearer-token check does not apply: the console signs in with its own cookie, checked above
        return public(guarded)

    return decorate

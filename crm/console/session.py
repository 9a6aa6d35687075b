"""Console sessions: the guard of every page (sign-in, role, CSRF). The cookie and CSRF helpers live in
``crm.core.cookies`` and are re-exported here."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse, redirect

from crm.core.auth import Principal, public, resolve_principal
from crm.core.cookies import COOKIE, PRELOGIN, check_csrf, csrf_for, new_prelogin, set_cookie
from crm.core.errors import Forbidden, Unauthorized

__all__ = [
    "COOKIE",
    "PRELOGIN",
    "check_csrf",
    "console_page",
    "context",
    "csrf_for",
    "current",
    "new_prelogin",
    "require",
    "set_cookie",
]


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

        guarded.__console_roles__ = roles or ("*",)  # type: ignore[attr-defined]  # read by tests/test_parity.py
        # the API's bearer-token check does not apply: the console signs in with its own cookie, checked above
        return public(guarded)

    return decorate

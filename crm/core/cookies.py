"""Browser sessions: an HttpOnly, SameSite=Strict cookie holding a short-lived signed token, and CSRF tokens bound to
it. Shared by the API's credential check (a console page calling the API) and the console itself."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sanic import Request
from sanic.response import HTTPResponse

from crm.core.errors import Forbidden

COOKIE = "urp_session"
PRELOGIN = "urp_prelogin"


def csrf_for(secret: str, session_token: str) -> str:
    return hmac.new(secret.encode(), b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()[:40]


def set_cookie(response: HTTPResponse, request: Request, name: str, value: str, max_age: int) -> None:
    secure = request.app.ctx.settings.public_url.startswith("https://")
    response.add_cookie(name, value, httponly=True, samesite="Strict", secure=secure, max_age=max_age, path="/")


def new_prelogin() -> str:
    return secrets.token_urlsafe(24)


def check_csrf(request: Request, given: str | None) -> None:
    token: str = request.cookies.get(COOKIE) or ""
    expected = csrf_for(request.app.ctx.settings.secret_key.get_secret_value(), token)
    if not token or not given or not hmac.compare_digest(given, expected):
        raise Forbidden("invalid or missing CSRF token")

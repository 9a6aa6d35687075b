"""The citizen's browser session on the sportello: cookies, CSRF and the guard every page goes through.

Three cookies, all HttpOnly and SameSite=Lax (the sign-in callback is a top-level navigation coming back from the
identity provider's site, which a Strict cookie would not survive), Secure when the public URL is https:

- ``urp_sp``: a random browser id; every form's CSRF token is an HMAC of it, signed in or not;
- ``urp_citizen``: the signed-in session's id in the shared sessions table (``crm.core.sessions``) with an HMAC;
- ``urp_citizen_login``: the ``state`` of a sign-in in progress, checked against the callback.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse, redirect

from crm.citizens import service as citizens
from crm.citizens.commands import visitor
from crm.citizens.config import get_citizen_settings
from crm.citizens.models import CitizenSession
from crm.contacts.models import Contact
from crm.core.auth import CITIZEN, Principal
from crm.core.commands import Context, acting
from crm.core.errors import ApiError, Forbidden
from crm.db import transaction

BROWSER = "urp_sp"
SESSION = "urp_citizen"
LOGIN = "urp_citizen_login"
VISITOR = "visitor"  # someone on the sportello who has not signed in


@dataclass(frozen=True)
class Citizen:
    """The signed-in citizen of this request."""

    session: CitizenSession
    contact: Contact
    principal: Principal


def set_cookie(response: HTTPResponse, request: Request, name: str, value: str, max_age: int) -> None:
    secure = request.app.ctx.settings.public_url.startswith("https://")
    response.add_cookie(name, value, httponly=True, samesite="Lax", secure=secure, max_age=max_age, path="/")


def clear_cookie(response: HTTPResponse, name: str) -> None:
    response.delete_cookie(name, path="/")


def browser_id(request: Request) -> str:
    """This browser's id: the cookie, or a new one the response will set (see ``finish``)."""
    existing = getattr(request.ctx, "sp_browser", None)
    if existing:
        return str(existing)
    value = request.cookies.get(BROWSER, "")
    if len(value) < 20:
        value = secrets.token_urlsafe(24)
        request.ctx.sp_browser_new = True
    request.ctx.sp_browser = value
    return value


def csrf_token(request: Request) -> str:
    secret = request.app.ctx.settings.secret_key.get_secret_value()
    return hmac.new(secret.encode(), b"sportello-csrf:" + browser_id(request).encode(), hashlib.sha256).hexdigest()[:40]


def check_csrf(request: Request) -> None:
    given = (request.form or {}).get("csrf") if request.form is not None else None
    given = given or request.headers.get("x-csrf-token")
    if not request.cookies.get(BROWSER) or not given or not hmac.compare_digest(str(given), csrf_token(request)):
        raise Forbidden("Il modulo è scaduto o non è valido: ricarichi la pagina e riprovi.")


def finish(request: Request, response: HTTPResponse) -> HTTPResponse:
    """Set the browser id cookie when this request created it; pages are never cached (they show personal data)."""
    if getattr(request.ctx, "sp_browser_new", False):
        set_cookie(response, request, BROWSER, request.ctx.sp_browser, max_age=60 * 60 * 24 * 30)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


async def current(request: Request) -> Citizen | None:
    cookie = request.cookies.get(SESSION, "")
    if not cookie:
        return None
    sid = citizens.sid_of(request.app.ctx.settings.secret_key.get_secret_value(), cookie)
    if sid is None:
        return None
    settings = get_citizen_settings()
    async with transaction(request.app.ctx.sessionmaker) as s:
        found = await citizens.resolve(s, sid=sid, idle_minutes=settings.citizen_idle_minutes)
        if found is None:
            return None
        row, contact = found
        await citizens.touch(s, row)
    return Citizen(session=row, contact=contact, principal=citizens.principal_for(contact))


def acting_as(request: Request, citizen: Citizen | None, ente_id: int) -> AbstractAsyncContextManager[Context]:
    """The context of a sportello form's change: the signed-in citizen, or a visitor (who becomes a citizen with
    ``crm.citizens.commands.register_visitor``). One transaction; the live events go out after it commits."""
    principal = citizen.principal if citizen is not None else visitor(ente_id)
    return acting(request.app, principal, details={"via": "sportello"})


PageHandler = Callable[..., Awaitable[HTTPResponse]]


class Redirect(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised anywhere under a page: the guard answers 303 to ``to`` (e.g. a booking in progress that expired)."""

    def __init__(self, to: str) -> None:
        super().__init__(to)
        self.to = to


def citizen_page(*, signed_in: bool = False) -> Callable[[PageHandler], PageHandler]:
    """Guard of every sportello route: the citizen (or None) is resolved; ``signed_in`` pages send strangers to the
    sign-in page and back; every POST needs this browser's CSRF token. The handler receives ``citizen``."""

    def decorate(handler: PageHandler) -> PageHandler:
        @functools.wraps(handler)
        async def guarded(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            citizen = await current(request)
            if signed_in and citizen is None:
                target = request.path + (f"?{request.query_string}" if request.query_string else "")
                from urllib.parse import quote

                return finish(request, redirect(f"/sportello/accesso?next={quote(target)}", status=303))
            request.ctx.citizen = citizen
            try:
                if request.method == "POST":
                    check_csrf(request)
                return finish(request, await handler(request, citizen, *args, **kwargs))
            except Redirect as r:
                return finish(request, redirect(r.to, status=303))
            except ApiError as exc:
                from crm.sportello.kit import error_page

                return error_page(request, exc)

        # citizens sign in with their own cookie, checked above, not the API's bearer token: the route names who it
        # admits (the parity test reads it) - signed-in citizens, and visitors where the page takes them too
        guarded.__authorized__ = (CITIZEN,) if signed_in else (CITIZEN, VISITOR)  # type: ignore[attr-defined]
        return guarded

    return decorate

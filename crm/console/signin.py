"""Signing in and out of the console (the prelogin token is the login form's CSRF token)."""

from __future__ import annotations

from sanic import Request
from sanic.response import HTTPResponse, redirect

from crm.console.kit import bp, landing, render
from crm.console.session import COOKIE, PRELOGIN, check_csrf, context, current, new_prelogin, set_cookie
from crm.core import sessions, throttle
from crm.core.auth import public, token_claims
from crm.core.errors import ApiError, Forbidden
from crm.db import db_session, write_turn
from crm.operators import service as operators


@bp.get("/")
@public
async def home(request: Request) -> HTTPResponse:
    p = await current(request)
    return redirect(landing(p.role) if p else "/console/login")


@bp.get("/login")
@public
async def login_form(request: Request) -> HTTPResponse:
    token = new_prelogin()
    resp = render("login.html", **context(request, None, prelogin=token, error=None))
    set_cookie(resp, request, PRELOGIN, token, 600)
    return resp


@bp.post("/login")
@public
async def login(request: Request) -> HTTPResponse:
    form = request.form or {}
    given, expected = form.get("prelogin", ""), request.cookies.get(PRELOGIN, "")
    if not expected or given != expected:
        raise Forbidden("invalid or missing CSRF token")
    settings = request.app.ctx.settings
    username = str(form.get("username", ""))
    attempt = throttle.attempt_from(request, realm=operators.REALM, account=username)
    maker = request.app.ctx.sessionmaker
    async with write_turn(maker), maker() as s:
        try:
            op = await operators.authenticate(
                s,
                username=username,
                password=form.get("password", ""),
                attempt=attempt,
                policy=operators.policy(settings),
            )
        except ApiError as exc:
            await s.commit()
            token = new_prelogin()
            msg = (
                "Troppi tentativi: riprovi tra qualche minuto."
                if exc.status == 429
                else "Nome utente o password non corretti."
            )
            resp = render("login.html", status=exc.status, **context(request, None, prelogin=token, error=msg))
            set_cookie(resp, request, PRELOGIN, token, 600)
            if exc.headers:
                resp.headers.update(exc.headers)
            return resp
        jwt = await operators.start_session(
            s, op, secret=settings.secret_key.get_secret_value(), ttl_minutes=settings.token_ttl_minutes
        )
        await s.commit()
    resp = redirect(landing(op.role), status=303)
    set_cookie(resp, request, COOKIE, jwt, settings.token_ttl_minutes * 60)
    resp.delete_cookie(PRELOGIN, path="/")
    throttle.remember_device(resp, request, attempt)
    return resp


@bp.post("/logout")
@public
async def logout(request: Request) -> HTTPResponse:
    """Ends the server-side session, so the cookie (or the token inside it) is worthless from now on."""
    check_csrf(request, (request.form or {}).get("csrf"))
    settings = request.app.ctx.settings
    claims = token_claims(settings.secret_key.get_secret_value(), request.cookies.get(COOKIE, ""), verify_exp=False)
    if claims is not None:
        async with db_session(request) as s:
            await sessions.revoke(s, claims[1])
    resp = redirect("/console/login", status=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp

"""Home, service pages (schede servizio), sign-in and sign-out, ratings, the chat link, the legal pages."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlparse

from sanic import Request
from sanic.response import HTTPResponse, json, redirect
from sqlalchemy import select

from crm.bookings.models import Service
from crm.citizens import commands as citizen_commands
from crm.citizens import service as citizens
from crm.citizens.config import get_citizen_settings
from crm.citizens.oidc import AuthRequest, ProviderConfig, SignInFailed
from crm.core import ratelimit, throttle
from crm.core.auth import public
from crm.core.errors import NotFound, ValidationFailed
from crm.db import read_session, transaction
from crm.entes import service as entes
from crm.instances.models import InstanceType
from crm.offices.models import Office
from crm.sportello import service
from crm.sportello.kit import bp, error_page, render
from crm.sportello.session import LOGIN, SESSION, Citizen, acting_as, citizen_page, clear_cookie, finish, set_cookie

log = logging.getLogger("urp.sportello")
SIGN_IN_LIMIT = 20  # sign-ins started or failed per address in 10 minutes
SIGN_IN_WINDOW_MINUTES = 10


async def ente_id_of(request: Request) -> int:
    """The desk serves the installation's default ente (one comune per public address)."""
    cached = getattr(request.app.ctx, "sportello_ente_id", None)
    if cached is None:
        async with read_session(request) as s:
            ente = await entes.get_by_slug(s, request.app.ctx.settings.default_ente)
        if ente is None:
            raise NotFound("Il Comune non è ancora configurato.")
        request.app.ctx.sportello_ente_id, request.app.ctx.sportello_ente_name = ente.id, ente.name
        cached = ente.id
    return int(cached)


def providers_of(request: Request) -> list[ProviderConfig]:
    return list(request.app.ctx.oidc_providers.get(request.app.ctx.settings.default_ente, []))


def safe_next(value: str | None) -> str:
    """Only paths of this desk: a sign-in never redirects anywhere else (no open redirect)."""
    if not value:
        return "/sportello/area-personale"
    parsed = urlparse(value)
    if parsed.scheme or parsed.netloc or not parsed.path.startswith("/sportello/") or "\\" in value:
        return "/sportello/area-personale"
    return value[:300]


@bp.get("/")
@citizen_page()
async def home(request: Request, citizen: Citizen | None) -> HTTPResponse:
    ente_id = await ente_id_of(request)
    async with read_session(request) as s:
        services = (
            await s.scalars(
                select(Service).where(Service.ente_id == ente_id, Service.active.is_(True)).order_by(Service.name)
            )
        ).all()
        types = (
            await s.scalars(
                select(InstanceType)
                .where(InstanceType.ente_id == ente_id, InstanceType.active.is_(True))
                .order_by(InstanceType.title)
            )
        ).all()
    return render(request, "home.html", services=services, types=types)


@bp.get("/servizi/<slug:str>")
@citizen_page()
async def service_page(request: Request, citizen: Citizen | None, slug: str) -> HTTPResponse:
    ente_id = await ente_id_of(request)
    async with read_session(request) as s:
        svc = await s.scalar(
            select(Service).where(Service.ente_id == ente_id, Service.slug == slug, Service.active.is_(True))
        )
        if svc is None:
            raise NotFound("servizio non trovato")
        office = await s.get(Office, svc.office_id) if svc.office_id else None
    return render(request, "service.html", svc=svc, office=office)


# --- sign-in -------------------------------------------------------------------------------------------------------
@bp.get("/accesso")
@citizen_page()
async def sign_in_page(request: Request, citizen: Citizen | None) -> HTTPResponse:
    nxt = safe_next(request.args.get("next"))
    if citizen is not None:
        return redirect(nxt, status=303)
    return render(request, "sign_in.html", providers=providers_of(request), next=nxt, no_rating=True)


def _limits(request: Request, ente_id: int) -> list[ratelimit.Limit]:
    """Per source address (the same reading of proxies as the operators' sign-in, ``crm.core.throttle``): there is
    no account to count before the provider has answered."""
    from datetime import timedelta

    addr = throttle.source_address(request)
    return [
        ratelimit.Limit(
            f"citizen.signin:addr:{ente_id}:{ratelimit.digest(addr)}",
            SIGN_IN_LIMIT,
            timedelta(minutes=SIGN_IN_WINDOW_MINUTES),
            "too many sign-in attempts",
        )
    ]


@bp.get("/accesso/<provider:str>")
@citizen_page()
async def sign_in_start(request: Request, citizen: Citizen | None, provider: str) -> HTTPResponse:
    ente_id = await ente_id_of(request)
    conf = next((p for p in providers_of(request) if p.slug == provider), None)
    if conf is None:
        raise NotFound("fornitore di identità non configurato")
    limits = _limits(request, ente_id)
    async with transaction(request.app.ctx.sessionmaker) as s:
        await ratelimit.check(s, limits)  # 429 for an address that keeps starting sign-ins
        await ratelimit.hit(s, limits)
    try:
        auth = await request.app.ctx.oidc_client.begin(conf, _redirect_uri(request, conf))
    except SignInFailed as exc:
        log.warning("sign-in with %s could not start: %s", provider, exc.reason)
        return render(
            request,
            "sign_in.html",
            providers=providers_of(request),
            next="/sportello/area-personale",
            error=exc.citizen_message,
            no_rating=True,
            status=502,
        )
    async with transaction(request.app.ctx.sessionmaker) as s:
        await citizens.start_login(
            s, ente_id=ente_id, provider=conf.slug, auth=auth, next_path=safe_next(request.args.get("next"))
        )
    response = redirect(auth.url, status=303)
    set_cookie(response, request, LOGIN, auth.state, max_age=600)
    return response


def _redirect_uri(request: Request, conf: ProviderConfig) -> str:
    return request.app.ctx.settings.public_url.rstrip("/") + f"/sportello/accesso/{conf.slug}/callback"


@bp.get("/accesso/<provider:str>/callback")
@citizen_page()
async def sign_in_callback(request: Request, citizen: Citizen | None, provider: str) -> HTTPResponse:
    ente_id = await ente_id_of(request)
    conf = next((p for p in providers_of(request) if p.slug == provider), None)
    params = {k: v[0] for k, v in request.args.items()}
    state = params.get("state", "")
    cookie_state = request.cookies.get(LOGIN, "")
    async with transaction(request.app.ctx.sessionmaker) as s:
        pending = await citizens.take_login(s, ente_id=ente_id, state=state) if state else None
    fail_message = "La richiesta di accesso non è valida o è scaduta. Riprovi."
    try:
        # the state must be the one this browser was given: a callback forwarded to someone else fails here
        if (
            conf is None
            or pending is None
            or pending.provider != conf.slug
            or not cookie_state
            or cookie_state != state
        ):
            raise SignInFailed("unknown, expired or foreign state", fail_message)
        ident = await request.app.ctx.oidc_client.finish(
            conf,
            _redirect_uri(request, conf),
            params,
            AuthRequest(url="", state=state, nonce=pending.nonce, code_verifier=pending.code_verifier),
        )
    except SignInFailed as exc:
        log.warning("sign-in with %s failed: %s", provider, exc.reason)
        async with transaction(request.app.ctx.sessionmaker) as s:
            await ratelimit.hit(s, _limits(request, ente_id))
        response = render(
            request,
            "sign_in.html",
            providers=providers_of(request),
            next="/sportello/area-personale",
            error=exc.citizen_message,
            no_rating=True,
            status=400,
        )
        clear_cookie(response, LOGIN)
        return response
    minutes = get_citizen_settings().citizen_session_minutes
    async with transaction(request.app.ctx.sessionmaker) as s:
        signed = await citizens.sign_in(s, ente_id=ente_id, ident=ident, minutes=minutes)
    response = redirect(pending.next_path, status=303)
    secret = request.app.ctx.settings.secret_key.get_secret_value()
    set_cookie(response, request, SESSION, citizens.cookie_value(secret, signed.sid), max_age=minutes * 60)
    clear_cookie(response, LOGIN)
    return response


@bp.post("/esci")
@citizen_page()
async def sign_out(request: Request, citizen: Citizen | None) -> HTTPResponse:
    everywhere = (request.form or {}).get("everywhere") == "1"
    if citizen is not None:
        async with transaction(request.app.ctx.sessionmaker) as s:
            await citizens.sign_out(s, row=citizen.session, contact=citizen.contact, everywhere=everywhere)
    response = redirect("/sportello/?uscita=1", status=303)
    clear_cookie(response, SESSION)
    return response


@bp.get("/jwks/<provider:str>")
@public
async def relying_party_jwks(request: Request, provider: str) -> HTTPResponse:
    """The relying party's public keys (for registering it with an identity provider)."""
    conf = next((p for p in providers_of(request) if p.slug == provider), None)
    if conf is None:
        raise NotFound("not found")
    return json(conf.public_jwks())


# --- ratings, chat link, legal pages ------------------------------------------------------------------------------
@bp.post("/valutazione")
@citizen_page()
async def rate(request: Request, citizen: Citizen | None) -> HTTPResponse:
    form = request.form or {}
    ente_id = await ente_id_of(request)
    try:
        stars = int(str(form.get("stars") or "0"))
    except ValueError:
        stars = 0
    if not 1 <= stars <= 5:
        raise ValidationFailed("Scelga da 1 a 5 stelle.", fields={"stars": "obbligatorio"})
    reason = str(form.get("positive" if stars > 3 else "negative") or "")
    async with transaction(request.app.ctx.sessionmaker) as s:
        await service.rate(
            s,
            ente_id=ente_id,
            page=str(form.get("page") or request.path),
            service=str(form.get("service") or ""),
            stars=stars,
            reason=reason,
            comment=str(form.get("comment") or ""),
            signed_in=citizen is not None,
        )
    if "application/json" in request.headers.get("accept", ""):
        return json({"ok": True})
    back = safe_next(str(form.get("page") or "/sportello/"))
    return redirect(back + ("&" if "?" in back else "?") + "valutazione=grazie#rating", status=303)


@bp.post("/chat/collega")
@citizen_page(signed_in=True)
async def link_chat(request: Request, citizen: Citizen) -> HTTPResponse:
    chat_session = str((request.form or {}).get("chat_session") or "")
    from channels.api import SESSION_RE

    if not SESSION_RE.match(chat_session):
        raise ValidationFailed("sessione di chat non valida", fields={"chat_session": "non valida"})
    async with acting_as(request, citizen, citizen.principal.ente_id) as cx:
        linked = await citizen_commands.link_chat(cx, contact=citizen.contact, chat_session=chat_session)
    return json({"linked": linked})


STATIC_PAGES: dict[str, dict[str, Any]] = {
    "privacy": {"title": "Informativa sul trattamento dei dati personali", "template": "privacy.html"},
    "note-legali": {"title": "Note legali", "template": "legal.html"},
    "accessibilita": {"title": "Dichiarazione di accessibilità", "template": "accessibility.html"},
}


async def _static_page(request: Request, page: str) -> HTTPResponse:
    await ente_id_of(request)
    return render(request, STATIC_PAGES[page]["template"], title=STATIC_PAGES[page]["title"])


@bp.get("/privacy")
@citizen_page()
async def privacy(request: Request, citizen: Citizen | None) -> HTTPResponse:
    return await _static_page(request, "privacy")


@bp.get("/note-legali")
@citizen_page()
async def legal_notes(request: Request, citizen: Citizen | None) -> HTTPResponse:
    return await _static_page(request, "note-legali")


@bp.get("/accessibilita")
@citizen_page()
async def accessibility(request: Request, citizen: Citizen | None) -> HTTPResponse:
    return await _static_page(request, "accessibilita")


__all__ = ["ente_id_of", "error_page", "finish"]

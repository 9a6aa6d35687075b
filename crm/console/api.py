"""Console pages. Every page checks the session and the role; every form carries the CSRF token."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html, redirect
from sqlalchemy import select

from crm.audit import service as audit
from crm.console.session import COOKIE, PRELOGIN, check_csrf, console_page, context, current, new_prelogin, set_cookie
from crm.contacts import service as contacts
from crm.conversations import service as conversations
from crm.conversations.models import Conversation
from crm.core import sessions, throttle
from crm.core.auth import Principal, public, token_claims
from crm.core.errors import ApiError, Forbidden
from crm.db import db_session, write_turn
from crm.events import emit
from crm.offices import service as offices
from crm.operators import service as operators
from crm.tickets.models import Ticket

bp = Blueprint("console", url_prefix="/console")
HERE = Path(__file__).parent
bp.static("/static", str(HERE / "static"), name="static")
env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
CHANNEL_LABEL = {"web": "Web chat", "sms": "SMS", "telegram": "Telegram", "email": "E-mail", "phone": "Telefono"}
MODE_LABEL = {"bot": "Con l'assistente", "waiting": "In attesa", "assigned": "In carico", "closed": "Chiusa"}
STATUS_LABEL = {"new": "Nuova", "in_charge": "In carico", "waiting_citizen": "Attesa cittadino", "resolved": "Risolta",
                "closed": "Chiusa", "rejected": "Respinta"}
KIND_LABEL = {"information": "Informazione", "report": "Segnalazione", "complaint": "Reclamo", "other": "Altro"}
PRIORITY_LABEL = {"bassa": "Bassa", "media": "Media", "alta": "Alta"}
BOOKING_STATUS_LABEL = {"confirmed": "Confermata", "cancelled": "Annullata", "attended": "Presentato",
                        "no_show": "Non presentato"}
INSTANCE_STATUS_LABEL = {"submitted": "Presentata", "protocolled": "Protocollata", "in_charge": "In carico",
                         "integration_requested": "Integrazione richiesta", "integrated": "Integrata",
                         "accepted": "Accolta", "rejected": "Respinta", "withdrawn": "Ritirata"}
WEEKDAYS = ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"]
# which screens each role sees (the navigation, and the role checks of the routes below)
INTAKE_ROLES = ("admin", "operator", "phone_operator")
BOOKING_VIEWERS = ("admin", "operator", "phone_operator", "backoffice")
BOOKING_EDITORS = ("admin", "operator", "phone_operator")  # cancel, reschedule (as the API's BOOKERS)
INSTANCE_HANDLERS = ("admin", "operator", "backoffice")  # as the API's HANDLERS
KB_READERS = ("admin", "operator")  # admins curate the knowledge base, operators read it
KB_EDITORS = ("admin",)
DASHBOARD_ROLES = ("admin", "operator")
ADMINS = ("admin",)  # operators and settings
CONTACT_MERGERS = ("admin", "operator", "phone_operator")  # as the API's merge
GDPR_EXPORTERS = ("admin", "operator")  # as the API's export; erasure is for admins only
REQUEST_VIEWERS = ("admin", "operator", "phone_operator", "backoffice")  # the requests screen
REQUEST_HANDLERS = ("admin", "operator")  # assign, priority, status, notes from the console


def _local(value: datetime | None, tz: ZoneInfo | None = None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    if value is None:
        return "—"
    return (value.astimezone(tz) if tz else value).strftime(fmt)


def _day(value: date | datetime) -> str:
    return f"{WEEKDAYS[value.weekday()]} {value.strftime('%d/%m/%Y')}"


env.globals.update(CHANNEL_LABEL=CHANNEL_LABEL, MODE_LABEL=MODE_LABEL, STATUS_LABEL=STATUS_LABEL, KIND_LABEL=KIND_LABEL,
                   PRIORITY_LABEL=PRIORITY_LABEL, BOOKING_STATUS_LABEL=BOOKING_STATUS_LABEL,
                   INSTANCE_STATUS_LABEL=INSTANCE_STATUS_LABEL, INTAKE_ROLES=INTAKE_ROLES,
                   BOOKING_VIEWERS=BOOKING_VIEWERS, BOOKING_EDITORS=BOOKING_EDITORS,
                   INSTANCE_HANDLERS=INSTANCE_HANDLERS, KB_READERS=KB_READERS, KB_EDITORS=KB_EDITORS,
                   DASHBOARD_ROLES=DASHBOARD_ROLES, ADMINS=ADMINS, CONTACT_MERGERS=CONTACT_MERGERS,
                   GDPR_EXPORTERS=GDPR_EXPORTERS, REQUEST_VIEWERS=REQUEST_VIEWERS,
                   REQUEST_HANDLERS=REQUEST_HANDLERS)
env.filters.update(local=_local, day=_day,
                   options=lambda rows, value, label: [(getattr(r, value), getattr(r, label)) for r in rows])


def render(name: str, status: int = 200, **ctx: Any) -> HTTPResponse:
    return html(env.get_template(name).render(**ctx), status=status,
                headers={"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' "
                                                    "'unsafe-inline'; font-src 'self' data:; frame-ancestors 'none'",
                         "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"})


ERROR_TITLE = {400: "Richiesta non valida", 403: "Operazione non consentita", 404: "Pagina non trovata",
               409: "Operazione non possibile", 422: "Dati non validi"}


@bp.exception(ApiError)
async def console_error(request: Request, exc: ApiError) -> HTTPResponse:
    """Errors on console pages are pages in Italian (the API keeps its JSON errors)."""
    from crm.console.forms import service_error

    p = getattr(request.ctx, "principal", None)
    if exc.status == 403 and "CSRF" in exc.message:
        text = "Il modulo è scaduto o non è valido: ricarichi la pagina e riprovi."
    elif exc.status == 403:
        text = "Il suo ruolo non consente di aprire questa pagina o di eseguire questa operazione."
    else:
        text = service_error(exc)
    return render("error.html", status=exc.status,
                  **context(request, p, title=ERROR_TITLE.get(exc.status, "Errore"), message=text))


async def ente_tz(session: Any, ente_id: int) -> ZoneInfo:
    from crm.entes import service as entes

    return ZoneInfo((await entes.get(session, ente_id)).timezone)


@bp.get("/")
@public
async def home(request: Request) -> HTTPResponse:
    return redirect("/console/inbox" if await current(request) else "/console/login")


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
            op = await operators.authenticate(s, username=username, password=form.get("password", ""),
                                              attempt=attempt, policy=operators.policy(settings))
        except ApiError as exc:
            await s.commit()
            token = new_prelogin()
            msg = "Troppi tentativi: riprovi tra qualche minuto." if exc.status == 429 else \
                "Nome utente o password non corretti."
            resp = render("login.html", status=exc.status, **context(request, None, prelogin=token, error=msg))
            set_cookie(resp, request, PRELOGIN, token, 600)
            if exc.headers:
                resp.headers.update(exc.headers)
            return resp
        jwt = await operators.start_session(s, op, secret=settings.secret_key.get_secret_value(),
                                            ttl_minutes=settings.token_ttl_minutes)
        await s.commit()
    resp = redirect("/console/inbox", status=303)
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


@bp.get("/inbox")
@console_page()
async def inbox(request: Request, p: Principal) -> HTTPResponse:
    view = request.args.get("view", "waiting")
    async with db_session(request) as s:
        topics = {t.id: t for t in await offices.list_topics(s, ente_id=p.ente_id)}
        stmt = conversations.list_stmt(ente_id=p.ente_id, mode={"waiting": "waiting", "mine": "assigned",
                                                                "open": "open"}.get(view, "waiting"),
                                       assignee_id=p.operator_id if view == "mine" else None)
        rows = (await s.scalars(stmt.order_by(Conversation.handoff_at.asc().nulls_last(),
                                              Conversation.last_message_at.desc()).limit(200))).all()
        items = [conversations.to_out(c, topics[c.topic_id].slug if c.topic_id in topics else None) for c in rows]
        names = {}
        for c in rows:
            contact = await contacts.get(s, ente_id=p.ente_id, contact_id=c.contact_id)
            names[c.id] = contact.display_name
    return render("inbox.html", **context(request, p, view=view, items=items, names=names,
                                          topics={t.id: t.name for t in topics.values()}))


@bp.get("/conversations/<conversation_id:int>")
@console_page()
async def conversation(request: Request, p: Principal, conversation_id: int) -> HTTPResponse:
    async with db_session(request) as s:
        conv = await conversations.get(s, ente_id=p.ente_id, conversation_id=conversation_id)
        msgs = await conversations.messages(s, ente_id=p.ente_id, conversation_id=conv.id, include_private=True)
        contact = await contacts.get(s, ente_id=p.ente_id, contact_id=conv.contact_id)
        topics = await offices.list_topics(s, ente_id=p.ente_id)
        await audit.record(s, principal=p, action="read", entity="conversation", entity_id=conv.id)
        out = conversations.to_out(conv)
    return render("conversation.html", **context(request, p, conv=out, messages=msgs, contact=contact,
                                                 topics=topics, canned=CANNED))


CANNED = ["Buongiorno, sono un operatore dell'URP: come posso aiutarla?",
          "Le invio il link alla pagina con tutte le informazioni.",
          "Grazie per la pazienza, verifico con l'ufficio competente e le rispondo a breve.",
          "La richiesta è stata registrata. Riceverà un messaggio a ogni aggiornamento.",
          "Grazie a lei, buona giornata!"]


@bp.post("/conversations/<conversation_id:int>/<action:str>")
@console_page("admin", "operator", "phone_operator")
async def conversation_action(request: Request, p: Principal, conversation_id: int, action: str) -> HTTPResponse:
    form = request.form or {}
    from crm.conversations.api import notify_outbound

    sent_id = None
    async with db_session(request) as s:
        if action == "take":
            await conversations.take(s, ente_id=p.ente_id, conversation_id=conversation_id, operator_id=p.operator_id)
        elif action == "close":
            await conversations.close(s, ente_id=p.ente_id, conversation_id=conversation_id)
        elif action == "return":
            await conversations.return_to_bot(s, ente_id=p.ente_id, conversation_id=conversation_id)
        elif action == "transfer":
            await conversations.transfer(s, ente_id=p.ente_id, conversation_id=conversation_id,
                                         topic_slug=form.get("topic") or None, operator_id=None)
        elif action in ("reply", "note"):
            text = (form.get("text") or "").strip()[:4000]
            if text:
                conv = await conversations.get(s, ente_id=p.ente_id, conversation_id=conversation_id, lock=True)
                if action == "reply" and not (conv.mode == "assigned" and conv.assignee_id == p.operator_id):
                    raise Forbidden("prenda in carico la conversazione prima di rispondere")
                msg = await conversations.record_outbound(s, conv=conv, text=text, author_kind="operator",
                                                          operator_id=p.operator_id, private=action == "note")
                sent_id = None if action == "note" else msg.id
        else:
            raise Forbidden("azione sconosciuta")
        await audit.record(s, principal=p, action=action, entity="conversation", entity_id=conversation_id)
    if sent_id:
        await notify_outbound(request, p.ente_id, sent_id)
    await emit(request.app, p.ente_id, {"type": "conversation", "id": conversation_id})
    return redirect(f"/console/conversations/{conversation_id}", status=303)


@bp.get("/contacts")
@console_page()
async def contact_search(request: Request, p: Principal) -> HTTPResponse:
    q = request.args.get("q", "")
    async with db_session(request) as s:
        rows = (await s.scalars(contacts.search_stmt(ente_id=p.ente_id, q=q).limit(50))).all() if q else []
        if q:
            await audit.record(s, principal=p, action="search", entity="contact", entity_id=None,
                               details={"results": [c.id for c in rows]})
    return render("contacts.html", **context(request, p, q=q, rows=rows))


@bp.get("/contacts/<contact_id:int>")
@console_page()
async def contact_360(request: Request, p: Principal, contact_id: int) -> HTTPResponse:
    timeline: list[dict[str, Any]] = []
    async with db_session(request) as s:
        c = await contacts.get(s, ente_id=p.ente_id, contact_id=contact_id)
        for conv in (await s.scalars(conversations.list_stmt(ente_id=p.ente_id, contact_id=c.id))).all():
            timeline.append({"at": conv.created_at, "kind": "Conversazione", "text": CHANNEL_LABEL.get(conv.channel),
                             "state": MODE_LABEL.get(conv.mode), "href": f"/console/conversations/{conv.id}"})
        for t in (await s.scalars(select(Ticket).where(Ticket.ente_id == p.ente_id, Ticket.contact_id == c.id))).all():
            timeline.append({"at": t.created_at, "kind": "Richiesta " + t.code, "text": t.subject,
                             "state": STATUS_LABEL.get(t.status), "href": None})
        try:
            from crm.bookings.models import Booking

            for b in (await s.scalars(select(Booking).where(Booking.ente_id == p.ente_id,
                                                            Booking.contact_id == c.id))).all():
                timeline.append({"at": b.created_at, "kind": "Prenotazione " + b.code,
                                 "text": b.start.strftime("%d/%m/%Y %H:%M UTC"), "state": b.status, "href": None})
            from crm.instances.models import Instance

            for i in (await s.scalars(select(Instance).where(Instance.ente_id == p.ente_id,
                                                             Instance.contact_id == c.id))).all():
                timeline.append({"at": i.created_at, "kind": "Istanza " + i.code,
                                 "text": i.protocol_number or "", "state": i.status, "href": None})
        except ImportError:
            pass
        await audit.record(s, principal=p, action="read", entity="contact", entity_id=c.id)
        tz = await ente_tz(s, p.ente_id)
    timeline.sort(key=lambda x: x["at"], reverse=True)
    return render("contact.html", **context(request, p, c=c, timeline=timeline, tz=tz,
                                            ok=CONTACT_OUTCOME.get(request.args.get("esito", ""), "")))


CONTACT_OUTCOME = {"salvato": "Dati del contatto salvati.", "invariato": "Nessuna modifica da salvare.",
                   "unito": "Contatti uniti: le pratiche del doppione sono ora su questo contatto.",
                   "cancellato": "Dati personali cancellati. L'operazione è stata registrata."}


# the screens built on the booking centre and the istanze register their routes on the same blueprint
from crm.console import (  # noqa: E402,F401
    admin,
    agenda,
    backoffice,
    bookings_admin,
    dashboard,
    intake,
    kb,
    people,
    requests_desk,
)

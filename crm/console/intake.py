"""Phone intake: find or register the caller, then log a request, book a slot or submit an istanza on their behalf
(channel ``phone``, recorded as entered by this operator). Handlers are thin: the domain services validate and write."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sanic import Request
from sanic.response import HTTPResponse, redirect
from sqlalchemy import select

from crm.bookings import commands as booking_commands
from crm.bookings import service as bookings
from crm.bookings.models import Booking
from crm.bookings.schemas import BookingIn
from crm.console.forms import contact_errors, form_errors, model_errors, parse_values, schema_fields, service_error
from crm.console.kit import (
    BOOKING_STATUS_LABEL,
    INSTANCE_STATUS_LABEL,
    INTAKE_ROLES,
    PRIORITY_LABEL,
    STATUS_LABEL,
    bp,
    ente_tz,
    file_error,
    render,
    uploads_of,
)
from crm.console.lookups import booking_places, operator_names
from crm.console.session import console_page, context
from crm.console.slots import BOOKING_DAYS, as_int, from_day, parse_slot, slot_days
from crm.contacts import commands as contact_commands
from crm.contacts import service as contacts
from crm.contacts.schemas import ContactIn
from crm.conversations import files as chat_files
from crm.conversations.models import Conversation
from crm.core.auth import Principal
from crm.core.commands import begin
from crm.core.errors import ApiError, Conflict, NotFound
from crm.db import db_session
from crm.instances import commands as instance_commands
from crm.instances import service as instances
from crm.instances.models import Instance
from crm.instances.schemas import InstanceIn
from crm.offices import service as offices
from crm.tickets import commands as ticket_commands
from crm.tickets import service as tickets
from crm.tickets.models import Ticket
from crm.tickets.schemas import TicketIn

CHANNELS = ("web", "sms", "telegram", "email", "phone")
CONTACT_FIELDS = ("first_name", "last_name", "phone", "fiscal_code", "email")
REQUEST_FIELDS = ("kind", "topic", "priority", "subject", "description")


def _prefill(q: str) -> dict[str, str]:
    """Start the new-caller form from what was searched: a phone, a fiscal code, an e-mail or a name."""
    new = dict.fromkeys(CONTACT_FIELDS, "")
    if "@" in q:
        new["email"] = q
    elif re.fullmatch(r"[A-Za-z0-9]{16}", q) and any(ch.isdigit() for ch in q):
        new["fiscal_code"] = q.upper()
    elif len(re.sub(r"\D", "", q)) >= 6:
        new["phone"] = q
    elif q:
        first, _, last = q.partition(" ")
        new["first_name"], new["last_name"] = first, last
    return new


def _author_id(record: Any) -> int | None:
    return record.booked_by_operator_id if isinstance(record, Booking) else record.created_by_operator_id


def _on_behalf(record: Any, names: dict[int, str]) -> str:
    if not record.on_behalf:
        return ""
    return f"Inserito per conto del cittadino da {names.get(_author_id(record) or 0, 'operatore')}"


def _origin(record: Any, names: dict[int, str]) -> str:
    """Who entered a record, as the caller's history shows it."""
    if record.on_behalf:
        return _on_behalf(record, names)
    kind = record.booked_by_kind if isinstance(record, Booking) else record.created_by_kind
    if kind == "bot":
        return "Dal cittadino, con l'assistente virtuale"
    if kind == "operator":
        return f"Da {names.get(_author_id(record) or 0, 'operatore')}"
    return "Dal cittadino"


# --- step 1: find or register the caller ------------------------------------------------------------------------------
@bp.get("/intake")
@console_page(*INTAKE_ROLES)
async def intake_search(request: Request, p: Principal) -> HTTPResponse:
    q = request.args.get("q", "").strip()[:200]
    rows: list[Any] = []
    async with begin(request, screen="intake") as cx:
        if q:
            rows = list((await cx.session.scalars(contacts.search_stmt(ente_id=p.ente_id, q=q).limit(30))).all())
            await cx.read("search", "contact", None, details={"results": [c.id for c in rows]})
    return render("intake.html", **context(request, p, q=q, rows=rows, new=_prefill(q), errors={}, existing=[]))


@bp.post("/intake/contacts")
@console_page(*INTAKE_ROLES)
async def intake_create_contact(request: Request, p: Principal) -> HTTPResponse:
    form = request.form or {}
    new = {k: (form.get(k) or "").strip() for k in CONTACT_FIELDS}
    errors: dict[str, str] = {}
    for name, label in (("first_name", "il nome"), ("last_name", "il cognome")):
        if not new[name]:
            errors[name] = f"Indichi {label}."
    if not (new["phone"] or new["email"]):
        errors.setdefault("phone", "Indichi almeno un recapito: telefono o e-mail.")
    data = None
    try:
        data = ContactIn(
            first_name=new["first_name"],
            last_name=new["last_name"],
            fiscal_code=new["fiscal_code"] or None,
            phones=[new["phone"]] if new["phone"] else [],
            emails=[new["email"]] if new["email"] else [],
            consent_privacy=form.get("consent_privacy") == "1",
        )
    except ValidationError as exc:
        errors.update(contact_errors(exc))
    if errors or data is None:
        return render(
            "intake.html", status=422, **context(request, p, q="", rows=[], new=new, errors=errors, existing=[])
        )
    async with begin(request, screen="intake") as cx:
        try:
            cid = (await contact_commands.create(cx, data=data)).id
        except Conflict as exc:
            if "fiscal_code" not in exc.fields:
                raise
            existing = list(
                (await cx.session.scalars(contacts.search_stmt(ente_id=p.ente_id, q=data.fiscal_code).limit(5))).all()
            )
            await cx.read("search", "contact", None, details={"results": [x.id for x in existing]})
            errors["fiscal_code"] = "Questo codice fiscale è già registrato: selezioni il contatto esistente."
            return render(
                "intake.html",
                status=409,
                **context(request, p, q="", rows=[], new=new, errors=errors, existing=existing),
            )
    return redirect(f"/console/intake/{cid}?nuovo=1", status=303)


async def _channel(request: Request, p: Principal, cid: int) -> str:
    """The channel a record entered here is on: the phone, or, when the form comes from a conversation's workspace
    (``conversazione``: one of this contact's conversations), that conversation's channel."""
    raw = str((request.form or {}).get("conversazione") or "")
    if not raw.isdigit():
        return "phone"
    async with db_session(request) as s:
        conv = await s.scalar(
            select(Conversation).where(
                Conversation.ente_id == p.ente_id, Conversation.id == int(raw), Conversation.contact_id == cid
            )
        )
    return conv.channel if conv is not None and conv.channel in CHANNELS else "phone"


# --- step 2: the caller's page ----------------------------------------------------------------------------------------
async def _caller_ctx(s: Any, p: Any, cid: int) -> dict[str, Any]:
    c = await contacts.get(s, ente_id=p.ente_id, contact_id=cid)
    names = await operator_names(s, ente_id=p.ente_id)
    tz = await ente_tz(s, p.ente_id)
    history: list[dict[str, Any]] = []
    for t in (
        await s.scalars(
            tickets.list_stmt(ente_id=p.ente_id, filters={"contact_id": cid})
            .order_by(Ticket.created_at.desc())
            .limit(10)
        )
    ).all():
        history.append(
            {
                "at": t.created_at,
                "what": "Richiesta",
                "code": t.code,
                "text": t.subject,
                "state": STATUS_LABEL.get(t.status, t.status),
                "by": _origin(t, names),
                "href": f"/console/intake/{cid}/done/request/{t.id}",
            }
        )
    services = list(await bookings.list_services(s, ente_id=p.ente_id))
    svc_names = {x.id: x.name for x in services}
    for b in (
        await s.scalars(
            bookings.list_stmt(ente_id=p.ente_id, contact_id=cid, service_id=None, status=None, d_from=None, d_to=None)
            .order_by(Booking.created_at.desc())
            .limit(10)
        )
    ).all():
        history.append(
            {
                "at": b.created_at,
                "what": "Prenotazione",
                "code": b.code,
                "text": f"{svc_names.get(b.service_id, 'Servizio')}, {b.start.astimezone(tz):%d/%m/%Y %H:%M}",
                "state": BOOKING_STATUS_LABEL.get(b.status, b.status),
                "by": _origin(b, names),
                "href": f"/console/intake/{cid}/done/booking/{b.id}",
            }
        )
    types = list(await instances.list_types(s, ente_id=p.ente_id))
    titles = {t.id: t.title for t in types}
    for i in (
        await s.scalars(
            instances.list_stmt(ente_id=p.ente_id, contact_id=cid, status=None, type_id=None)
            .order_by(Instance.created_at.desc())
            .limit(10)
        )
    ).all():
        history.append(
            {
                "at": i.created_at,
                "what": "Istanza",
                "code": i.code,
                "text": titles.get(i.type_id, "Istanza")
                + (f", protocollo {i.protocol_number}" if i.protocol_number else ""),
                "state": INSTANCE_STATUS_LABEL.get(i.status, i.status),
                "by": _origin(i, names),
                "href": f"/console/intake/{cid}/done/instance/{i.id}",
            }
        )
    history.sort(key=lambda x: x["at"], reverse=True)
    return {
        "c": c,
        "tz": tz,
        "history": history,
        "topics": await offices.list_topics(s, ente_id=p.ente_id),
        "services": services,
        "types": types,
    }


@bp.get("/intake/<cid:int>")
@console_page(*INTAKE_ROLES)
async def intake_caller(request: Request, p: Principal, cid: int) -> HTTPResponse:
    async with begin(request, screen="intake") as cx:
        ctx = await _caller_ctx(cx.session, p, cid)
        await cx.read("read", "contact", cid)
    return render(
        "intake_caller.html",
        **context(
            request,
            p,
            **ctx,
            max_file=chat_files.human_size(request.app.ctx.settings.attachments_max_bytes),
            req={"priority": "media", "kind": "information"},
            errors={},
            error=None,
            created=request.args.get("nuovo") == "1",
        ),
    )


@bp.post("/intake/<cid:int>/request")
@console_page(*INTAKE_ROLES)
async def intake_request(request: Request, p: Principal, cid: int) -> HTTPResponse:
    form = request.form or {}
    req = {k: (form.get(k) or "").strip() for k in REQUEST_FIELDS}
    error: str | None = None
    errors: dict[str, str] = {}
    status = 422
    channel = await _channel(request, p, cid)
    try:
        data = TicketIn(
            contact_id=cid,
            kind=req["kind"],
            topic=req["topic"] or None,  # type: ignore[arg-type]
            channel=channel,
            subject=req["subject"],
            description=req["description"],
            priority=req["priority"] or "media",
            on_behalf=True,
        )  # type: ignore[arg-type]
    except ValidationError as exc:
        errors = model_errors(exc)
    files = uploads_of(request)
    store = chat_files.store_for(request.app.ctx.settings)
    if not errors and (refused := file_error(files, store.max_bytes)):
        errors = {"files": refused}
    elif not errors:
        try:
            async with begin(request, screen="intake") as cx:
                tid = (await ticket_commands.open_request(cx, data=data)).id
                if files:  # the caller's photo or PDF, on the request: one transaction with it
                    await ticket_commands.upload_files(
                        cx,
                        ticket_id=tid,
                        files=files,
                        store=store,
                        closed_days=request.app.ctx.settings.retention_closed_days,
                    )
        except NotFound as exc:
            store.discard()
            if "topic" not in exc.fields:
                raise
            errors, status = {"topic": "Ambito sconosciuto."}, 422
        except ApiError as exc:
            store.discard()
            error, status = service_error(exc), exc.status
        except BaseException:
            store.discard()
            raise
        else:
            return redirect(f"/console/intake/{cid}/done/request/{tid}", status=303)
    async with db_session(request) as s:
        ctx = await _caller_ctx(s, p, cid)
    return render(
        "intake_caller.html",
        status=status,
        **context(
            request,
            p,
            **ctx,
            max_file=chat_files.human_size(request.app.ctx.settings.attachments_max_bytes),
            req=req,
            errors=errors,
            created=False,
            error=error or "La richiesta non è stata registrata: corregga i campi indicati.",
        ),
    )


# --- booking on behalf ------------------------------------------------------------------------------------------------
async def _book_ctx(
    s: Any,
    p: Any,
    cid: int,
    service_id: int | None,
    location_id: int | None,
    day: str | None,
    values: dict[str, Any],
    errors: dict[str, str],
    chosen: str = "",
) -> dict[str, Any]:
    c = await contacts.get(s, ente_id=p.ente_id, contact_id=cid)
    tz = await ente_tz(s, p.ente_id)
    today = datetime.now(tz).date()
    start_day = from_day(day, today)
    ctx: dict[str, Any] = {
        "c": c,
        "services": list(await bookings.list_services(s, ente_id=p.ente_id)),
        "service_id": service_id,
        "location_id": location_id,
        "svc": None,
        "days": [],
        "locations": [],
        "fields": [],
        "skipped": [],
        "chosen": chosen,
        "idem": secrets.token_urlsafe(16),
        "dal": start_day,
        "next_day": start_day + timedelta(days=BOOKING_DAYS),
        "prev_day": start_day - timedelta(days=BOOKING_DAYS) if start_day > today else None,
        "slot_error": errors.pop("_slot", ""),
    }
    if service_id is not None:
        ctx.update(
            await slot_days(
                s,
                ente_id=p.ente_id,
                service_id=service_id,
                start_day=start_day,
                days=BOOKING_DAYS,
                location_id=location_id,
            )
        )
        ctx["fields"], ctx["skipped"] = schema_fields(ctx["svc"].form_schema, values=values, errors=errors)
    return ctx


@bp.get("/intake/<cid:int>/book")
@console_page(*INTAKE_ROLES)
async def intake_book_form(request: Request, p: Principal, cid: int) -> HTTPResponse:
    async with db_session(request) as s:
        ctx = await _book_ctx(
            s,
            p,
            cid,
            as_int(request.args.get("servizio")),
            as_int(request.args.get("sede")),
            request.args.get("dal"),
            {},
            {},
        )
    return render("intake_book.html", **context(request, p, **ctx, error=None))


@bp.post("/intake/<cid:int>/book")
@console_page(*INTAKE_ROLES)
async def intake_book(request: Request, p: Principal, cid: int) -> HTTPResponse:
    form = request.form or {}
    service_id = as_int(form.get("service_id"))
    if service_id is None:
        raise NotFound("service not found")
    async with db_session(request) as s:
        await contacts.get(s, ente_id=p.ente_id, contact_id=cid)
        schema = (await bookings.get_service(s, ente_id=p.ente_id, service_id=service_id)).form_schema
    values = parse_values(schema, form)
    chosen = form.get("slot") or ""
    slot = parse_slot(chosen)
    errors: dict[str, str] = {}
    error: str | None = None
    status = 422
    if slot is None:
        errors["_slot"] = "Scelga un orario tra quelli liberi."
        error = "Scelga un orario tra quelli liberi."
    else:
        start, resource_id, location_id = slot
        data = BookingIn(
            service_id=service_id,
            start=start,
            contact_id=cid,
            fields=values,
            resource_id=resource_id,
            location_id=location_id,
            channel=await _channel(request, p, cid),  # type: ignore[arg-type]
            on_behalf=True,
        )
        idem = (form.get("idem") or "").strip()
        key = f"console-{p.operator_id}-{idem}"[:100] if re.fullmatch(r"[A-Za-z0-9_-]{8,64}", idem) else None
        try:
            async with begin(request, screen="intake") as cx:
                bid = (await booking_commands.book(cx, data=data, idempotency_key=key))[0].id
        except ApiError as exc:
            if exc.status == 404:
                raise
            errors, error, status = form_errors(exc, "fields"), service_error(exc), exc.status
            if exc.code == "slot_taken" or "start" in exc.fields:
                errors["_slot"], chosen = error, ""
        else:
            return redirect(f"/console/intake/{cid}/done/booking/{bid}", status=303)
    async with db_session(request) as s:
        ctx = await _book_ctx(s, p, cid, service_id, as_int(form.get("sede")), form.get("dal"), values, errors, chosen)
    return render("intake_book.html", status=status, **context(request, p, **ctx, error=error))


# --- istanza on behalf ------------------------------------------------------------------------------------------------
async def _instance_ctx(
    s: Any, p: Any, cid: int, slug: str | None, values: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    c = await contacts.get(s, ente_id=p.ente_id, contact_id=cid)
    types = list(await instances.list_types(s, ente_id=p.ente_id))
    t = next((x for x in types if x.slug == slug), None)
    ctx: dict[str, Any] = {
        "c": c,
        "types": types,
        "t": t,
        "slug": slug,
        "fields": [],
        "skipped": [],
        "attachments_error": errors.pop("_attachments", ""),
    }
    if t is not None:
        refs = {}
        for name, prop in ((t.form_schema or {}).get("properties") or {}).items():
            if isinstance(prop, dict) and prop.get("x-reference"):
                refs[name] = await instances.reference_values(s, p.ente_id, prop["x-reference"])
        ctx["fields"], ctx["skipped"] = schema_fields(t.form_schema, values=values, errors=errors, references=refs)
    return ctx


@bp.get("/intake/<cid:int>/instance")
@console_page(*INTAKE_ROLES)
async def intake_instance_form(request: Request, p: Principal, cid: int) -> HTTPResponse:
    async with db_session(request) as s:
        ctx = await _instance_ctx(s, p, cid, request.args.get("tipo") or None, {}, {})
    return render("intake_instance.html", **context(request, p, **ctx, error=None))


@bp.post("/intake/<cid:int>/instance")
@console_page(*INTAKE_ROLES)
async def intake_instance(request: Request, p: Principal, cid: int) -> HTTPResponse:
    form = request.form or {}
    slug = (form.get("type") or "").strip()
    async with db_session(request) as s:
        await contacts.get(s, ente_id=p.ente_id, contact_id=cid)
        t = await instances.get_type(s, ente_id=p.ente_id, slug=slug)
        schema = t.form_schema
    values = parse_values(schema, form)
    channel = await _channel(request, p, cid)
    data = InstanceIn(type=slug, contact_id=cid, data=values, on_behalf_of=cid, channel=channel)  # type: ignore[arg-type]
    try:
        async with begin(request, screen="intake") as cx:
            iid = (await instance_commands.submit(cx, data=data, adapter=request.app.ctx.protocol)).id
    except ApiError as exc:
        if exc.status == 404:
            raise
        errors, error, status = form_errors(exc, "data"), service_error(exc), exc.status
    else:
        return redirect(f"/console/intake/{cid}/done/instance/{iid}", status=303)
    async with db_session(request) as s:
        ctx = await _instance_ctx(s, p, cid, slug, values, errors)
    return render("intake_instance.html", status=status, **context(request, p, **ctx, error=error))


# --- confirmation -----------------------------------------------------------------------------------------------------
@bp.get("/intake/<cid:int>/done/<what:str>/<rid:int>")
@console_page(*INTAKE_ROLES)
async def intake_done(request: Request, p: Principal, cid: int, what: str, rid: int) -> HTTPResponse:
    rows: list[tuple[str, str]] = []
    async with begin(request, screen="intake") as cx:
        s = cx.session
        c = await contacts.get(s, ente_id=p.ente_id, contact_id=cid)
        tz = await ente_tz(s, p.ente_id)
        names = await operator_names(s, ente_id=p.ente_id)
        if what == "request":
            t = await tickets.get(s, ente_id=p.ente_id, ticket_id=rid)
            record, title, entity = t, "Richiesta registrata", "request"
            rows = [
                ("Codice richiesta", t.code),
                ("Oggetto", t.subject),
                ("Stato", STATUS_LABEL.get(t.status, "")),
                ("Priorità", PRIORITY_LABEL.get(t.priority, t.priority)),
                ("Presa in carico entro", t.due_at.astimezone(tz).strftime("%d/%m/%Y %H:%M")),
            ]
        elif what == "booking":
            b = await s.scalar(
                bookings.list_stmt(
                    ente_id=p.ente_id, contact_id=cid, service_id=None, status=None, d_from=None, d_to=None
                ).where(Booking.id == rid)
            )
            if b is None:
                raise NotFound("booking not found")
            svc = await bookings.get_service(s, ente_id=p.ente_id, service_id=b.service_id)
            loc_names, res_names = await booking_places(s, ente_id=p.ente_id)
            record, title, entity = b, "Appuntamento prenotato", "booking"
            rows = [
                ("Codice prenotazione", b.code),
                ("Servizio", svc.name),
                ("Data e ora", f"{b.start.astimezone(tz):%d/%m/%Y} alle {b.start.astimezone(tz):%H:%M}"),
                ("Stato", BOOKING_STATUS_LABEL.get(b.status, "")),
            ]
            if b.location_id:
                rows.append(("Sede", loc_names.get(b.location_id, "")))
            if b.resource_id:
                rows.append(("Sportello", res_names.get(b.resource_id, "")))
            if svc.what_to_bring:
                rows.append(("Da portare", svc.what_to_bring))
        elif what == "instance":
            i = await instances.get(s, ente_id=p.ente_id, instance_id=rid)
            types = {x.id: x for x in await instances.list_types(s, ente_id=p.ente_id)}
            record, title, entity = i, "Istanza presentata", "instance"
            rows = [
                ("Codice istanza", i.code),
                ("Tipo", types[i.type_id].title if i.type_id in types else ""),
                ("Numero di protocollo", i.protocol_number or "in corso di registrazione"),
                ("Stato", INSTANCE_STATUS_LABEL.get(i.status, "")),
            ]
            if i.deadline_at:
                rows.append(("Termine del procedimento", i.deadline_at.astimezone(tz).strftime("%d/%m/%Y")))
        else:
            raise NotFound("unknown record kind")
        if record.contact_id != cid:
            raise NotFound("record not found")
        await cx.read("read", entity, rid)
    return render(
        "intake_done.html",
        **context(
            request,
            p,
            c=c,
            title=title,
            rows=rows,
            code=record.code,
            by=_on_behalf(record, names),
            what=what,
            channel=getattr(record, "channel", "phone") or "phone",
        ),
    )

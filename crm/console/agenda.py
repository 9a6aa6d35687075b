"""Bookings screen: a day or week view of one service (optionally one site) with the citizens booked, and the desk's
actions: cancel with a reason, mark attended or no-show once the appointment has started, move to another free slot."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from sanic import Request
from sanic.response import HTTPResponse, redirect

from crm.bookings import commands
from crm.bookings import service as bookings
from crm.bookings.models import Booking
from crm.console.forms import service_error
from crm.console.kit import (
    BOOKING_EDITORS,
    BOOKING_MARKERS,
    BOOKING_STATUS_LABEL,
    BOOKING_VIEWERS,
    bp,
    ente_tz,
    render,
)
from crm.console.lookups import booking_places, contacts_by_id, operator_names
from crm.console.session import console_page, context
from crm.console.slots import BOOKING_DAYS, as_int, from_day, parse_slot, slot_days
from crm.core.auth import Principal
from crm.core.commands import begin
from crm.core.errors import ApiError
from crm.db import db_session, utcnow

VISIBLE = "confirmed,attended,no_show"  # cancelled ones only on request
OUTCOME = {
    "annullata": "Prenotazione {codice} annullata: il cittadino riceve l'avviso.",
    "presente": "Presenza registrata per la prenotazione {codice}.",
    "assente": "Assenza registrata per la prenotazione {codice}.",
    "spostata": "Appuntamento spostato: il nuovo codice è {codice}; il cittadino riceve la conferma.",
}
PROBLEM = {
    "motivo": "Indichi il motivo dell'annullamento.",
    "non_iniziato": "L'appuntamento non è ancora iniziato: presenza e assenza si registrano dall'ora di inizio.",
    "stato": "Operazione non consentita: la prenotazione non è più confermata.",
    "errore": "Operazione non riuscita.",
}


def _parse_day(raw: str | None, default: date) -> date:
    try:
        return date.fromisoformat(raw) if raw else default
    except ValueError:
        return default


def _back(raw: str | None, **params: str) -> str:
    """Where to return after an action: a bookings view of this console only, with the outcome added."""
    url = urlsplit(raw or "")
    path = (
        url.path
        if url.path.startswith("/console/bookings")
        and not url.scheme
        and not url.netloc
        and re.fullmatch(r"[/A-Za-z0-9_-]+", url.path)
        else "/console/bookings"
    )
    query = [(k, v) for k, v in parse_qsl(url.query) if k not in ("esito", "errore", "codice")] + list(params.items())
    return path + ("?" + urlencode(query) if query else "")


def _problem(exc: ApiError) -> str:
    if "not started" in exc.message:
        return "non_iniziato"
    if exc.code == "illegal_transition":
        return "stato"
    return "errore"


@bp.get("/bookings")
@console_page(*BOOKING_VIEWERS)
async def bookings_view(request: Request, p: Principal) -> HTTPResponse:
    view = "settimana" if request.args.get("vista") == "settimana" else "giorno"
    service_id, location_id = as_int(request.args.get("servizio")), as_int(request.args.get("sede"))
    with_cancelled = request.args.get("annullate") == "1"
    now = utcnow()
    async with begin(request, screen="bookings") as cx:
        s = cx.session
        tz = await ente_tz(s, p.ente_id)
        today = now.astimezone(tz).date()
        day = _parse_day(request.args.get("giorno"), today)
        first = day if view == "giorno" else day - timedelta(days=day.weekday())
        n_days = 1 if view == "giorno" else 7
        services = list(await bookings.list_services(s, ente_id=p.ente_id))
        if service_id is None and services:
            service_id = services[0].id
        svc = await bookings.get_service(s, ente_id=p.ente_id, service_id=service_id) if service_id else None
        rows: list[Booking] = []
        if svc is not None:
            stmt = bookings.list_stmt(
                ente_id=p.ente_id,
                contact_id=None,
                service_id=svc.id,
                status=None if with_cancelled else VISIBLE,
                d_from=datetime.combine(first, time(0), tz),
                d_to=datetime.combine(first + timedelta(days=n_days), time(0), tz),
            )
            if location_id is not None:
                stmt = stmt.where(Booking.location_id == location_id)
            rows = list((await s.scalars(stmt.order_by(Booking.start, Booking.id).limit(1000))).all())
        people = await contacts_by_id(s, ente_id=p.ente_id, ids=[b.contact_id for b in rows])
        names = await operator_names(s, ente_id=p.ente_id)
        loc_names, res_names = await booking_places(s, ente_id=p.ente_id)
        if rows:
            await cx.read(
                "list",
                "booking",
                None,
                details={
                    "service_id": service_id,
                    "from": first.isoformat(),
                    "days": n_days,
                    "results": [b.id for b in rows],
                },
            )
    editor = p.role in BOOKING_EDITORS
    days: dict[date, list[dict[str, Any]]] = {first + timedelta(days=i): [] for i in range(n_days)}
    for b in rows:
        start, end = b.start.astimezone(tz), b.end.astimezone(tz)
        c = people.get(b.contact_id)
        confirmed = b.status == "confirmed"
        days.setdefault(start.date(), []).append(
            {
                "id": b.id,
                "code": b.code,
                "time": f"{start:%H:%M}–{end:%H:%M}",
                "status": b.status,
                "status_label": BOOKING_STATUS_LABEL.get(b.status, b.status),
                "citizen": c.display_name if c else f"Contatto #{b.contact_id}",
                "contact_id": b.contact_id,
                "phone": c.phones[0].e164 if c and c.phones else "",
                "place": " · ".join(
                    x for x in (res_names.get(b.resource_id or 0), loc_names.get(b.location_id or 0)) if x
                ),
                "by": f"Inserito per conto del cittadino da {names.get(b.booked_by_operator_id or 0, 'operatore')}"
                if b.on_behalf
                else "",
                "can_mark": confirmed and b.start <= now,
                "can_cancel": confirmed and editor,
                "can_move": confirmed and editor and b.start > now,
            }
        )
    step = timedelta(days=n_days)
    nav = {
        "servizio": service_id or "",
        "vista": view,
        **({"sede": location_id} if location_id else {}),
        **({"annullate": "1"} if with_cancelled else {}),
    }
    codice = request.args.get("codice", "")
    codice = codice if re.fullmatch(r"[A-Z0-9-]{1,20}", codice) else ""
    ok = OUTCOME.get(request.args.get("esito", ""), "").format(codice=codice)
    err = PROBLEM.get(request.args.get("errore", ""), "")
    return render(
        "bookings.html",
        **context(
            request,
            p,
            services=services,
            svc=svc,
            view=view,
            day=day,
            first=first,
            days=sorted(days.items()),
            total=len(rows),
            locations=sorted(loc_names.items(), key=lambda x: x[1]),
            location_id=location_id,
            with_cancelled=with_cancelled,
            today=today,
            editor=editor,
            ok=ok,
            err=err,
            back=_back(request.path + ("?" + request.query_string if request.query_string else "")),
            prev_url="?" + urlencode({**nav, "giorno": (first - step).isoformat()}),
            next_url="?" + urlencode({**nav, "giorno": (first + step).isoformat()}),
            today_url="?" + urlencode({**nav, "giorno": today.isoformat()}),
            day_url="?" + urlencode({**nav, "vista": "giorno", "giorno": day.isoformat()}),
            week_url="?" + urlencode({**nav, "vista": "settimana", "giorno": day.isoformat()}),
        ),
    )


@bp.post("/bookings/<booking_id:int>/cancel")
@console_page(*BOOKING_EDITORS)
async def booking_cancel(request: Request, p: Principal, booking_id: int) -> HTTPResponse:
    form = request.form or {}
    reason = (form.get("reason") or "").strip()[:500]
    if not reason:
        return redirect(_back(form.get("back"), errore="motivo"), status=303)
    try:
        async with begin(request, screen="bookings") as cx:
            code = (await commands.cancel(cx, booking_id=booking_id, reason=reason))[0].code
    except ApiError as exc:
        if exc.status == 404:
            raise
        return redirect(_back(form.get("back"), errore=_problem(exc)), status=303)
    return redirect(_back(form.get("back"), esito="annullata", codice=code), status=303)


@bp.post("/bookings/<booking_id:int>/attended")
@console_page(*BOOKING_MARKERS)
async def booking_attended(request: Request, p: Principal, booking_id: int) -> HTTPResponse:
    return await _mark(request, p, booking_id, "attended")


@bp.post("/bookings/<booking_id:int>/no-show")
@console_page(*BOOKING_MARKERS)
async def booking_no_show(request: Request, p: Principal, booking_id: int) -> HTTPResponse:
    return await _mark(request, p, booking_id, "no_show")


async def _mark(request: Request, p: Principal, booking_id: int, status: str) -> HTTPResponse:
    form = request.form or {}
    mark = commands.mark_attended if status == "attended" else commands.mark_no_show
    try:
        async with begin(request, screen="bookings") as cx:
            code = (await mark(cx, booking_id=booking_id)).code
    except ApiError as exc:
        if exc.status == 404:
            raise
        return redirect(_back(form.get("back"), errore=_problem(exc)), status=303)
    return redirect(
        _back(form.get("back"), esito="presente" if status == "attended" else "assente", codice=code), status=303
    )


async def _move_ctx(s: Any, p: Any, booking_id: int, day: str | None) -> dict[str, Any]:
    b = await bookings.get_booking(s, ente_id=p.ente_id, booking_id=booking_id)
    tz = await ente_tz(s, p.ente_id)
    today = datetime.now(tz).date()
    start_day = from_day(day, today)
    svc = await bookings.get_service(s, ente_id=p.ente_id, service_id=b.service_id)
    people = await contacts_by_id(s, ente_id=p.ente_id, ids=[b.contact_id])
    # a multi-resource booking keeps its site; a resource booking may move to another counter
    picked = await slot_days(
        s,
        ente_id=p.ente_id,
        service_id=b.service_id,
        start_day=start_day,
        days=BOOKING_DAYS,
        location_id=b.location_id if svc.kind != "resource" else None,
    )
    c = people.get(b.contact_id)
    return {
        "b": b,
        "svc": svc,
        "tz": tz,
        "citizen": c.display_name if c else f"Contatto #{b.contact_id}",
        "days": picked["days"],
        "dal": start_day,
        "next_day": start_day + timedelta(days=BOOKING_DAYS),
        "prev_day": start_day - timedelta(days=BOOKING_DAYS) if start_day > today else None,
    }


@bp.get("/bookings/<booking_id:int>/reschedule")
@console_page(*BOOKING_EDITORS)
async def booking_move_form(request: Request, p: Principal, booking_id: int) -> HTTPResponse:
    async with begin(request, screen="bookings") as cx:
        ctx = await _move_ctx(cx.session, p, booking_id, request.args.get("dal"))
        await cx.read("read", "booking", booking_id)
    return render(
        "booking_move.html",
        **context(request, p, **ctx, back=_back(request.args.get("back")), error=None, slot_error=""),
    )


@bp.post("/bookings/<booking_id:int>/reschedule")
@console_page(*BOOKING_EDITORS)
async def booking_move(request: Request, p: Principal, booking_id: int) -> HTTPResponse:
    form = request.form or {}
    slot = parse_slot(form.get("slot") or "")
    error, status = "Scelga il nuovo orario tra quelli liberi.", 422
    if slot is not None:
        start, resource_id, _ = slot
        try:
            async with begin(request, screen="bookings") as cx:
                new = await commands.reschedule(cx, booking_id=booking_id, start=start, resource_id=resource_id)
                code, new_day = new.code, new.start.astimezone(await ente_tz(cx.session, p.ente_id)).date()
        except ApiError as exc:
            if exc.status == 404:
                raise
            error, status = service_error(exc), exc.status
        else:
            back = urlsplit(_back(form.get("back")))
            query = [(k, v) for k, v in parse_qsl(back.query) if k != "giorno"] + [("giorno", new_day.isoformat())]
            return redirect(_back(back.path + "?" + urlencode(query), esito="spostata", codice=code), status=303)
    async with db_session(request) as s:
        ctx = await _move_ctx(s, p, booking_id, form.get("dal"))
    return render(
        "booking_move.html",
        status=status,
        **context(request, p, **ctx, back=_back(form.get("back")), error=error, slot_error=error),
    )

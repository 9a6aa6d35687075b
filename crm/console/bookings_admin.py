"""Bookings administration (admins): services, the resources delivering them, weekly opening hours (the service's and
a resource's own), closures and extra openings, locations and resources, seats of capacity events. Handlers call the
booking service layer as the REST API does and audit every change the same way."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from sanic import Request
from sanic.response import HTTPResponse, redirect

from crm.bookings import commands
from crm.bookings import service as bookings
from crm.bookings.schemas import (
    RESERVED_CODE_PREFIXES,
    EventIn,
    EventPatch,
    ExceptionIn,
    IntervalIn,
    LocationIn,
    LocationPatch,
    ResourceIn,
    ResourcePatch,
    ServiceIn,
    ServicePatch,
)
from crm.console.forms import field_message, model_errors, service_error
from crm.console.kit import ADMINS, WEEKDAYS, bp, ente_tz, render
from crm.console.session import console_page, context
from crm.console.slots import as_int
from crm.core.auth import Principal
from crm.core.commands import Context, begin
from crm.core.errors import ApiError
from crm.core.text import slugify
from crm.db import db_session

SCREEN = "bookings_admin"  # in the audit lines of this screen's changes
KIND_LABEL = {
    "resource": "Calendario per sportello o persona (il cittadino sceglie la risorsa)",
    "multi_resource": "Sportelli equivalenti (qualunque risorsa libera)",
    "capacity": "Eventi a posti limitati",
}
KIND_SHORT = {"resource": "Per sportello", "multi_resource": "Sportelli equivalenti", "capacity": "Eventi a posti"}
NUMBERS = [  # (field, label, help)
    ("slot_minutes", "Durata di un appuntamento (minuti)", "Da 5 a 480 minuti."),
    ("buffer_before_minutes", "Pausa prima (minuti)", "Tempo libero lasciato prima di ogni appuntamento."),
    ("buffer_after_minutes", "Pausa dopo (minuti)", "Tempo libero lasciato dopo ogni appuntamento."),
    ("min_notice_hours", "Preavviso minimo (ore)", "Quanto prima si deve prenotare."),
    ("horizon_days", "Prenotabile fino a (giorni)", "Quanti giorni avanti si può prenotare."),
    ("cancel_deadline_hours", "Termine per annullare (ore prima)", ""),
    ("max_per_day_per_citizen", "Prenotazioni al giorno per cittadino", ""),
    ("max_active_per_citizen", "Prenotazioni attive per cittadino", ""),
]
RESOURCE_NUMBERS = [
    (
        "max_slots_per_booking",
        "Appuntamenti consecutivi per prenotazione",
        "Solo per i calendari per sportello: durata massima, in appuntamenti consecutivi.",
    ),
    (
        "max_series_count",
        "Ripetizioni massime di una serie",
        "Solo per i calendari per sportello: 0 = niente prenotazioni ripetute.",
    ),
]
DEFAULTS = {
    "kind": "multi_resource",
    "slot_minutes": 20,
    "buffer_before_minutes": 0,
    "buffer_after_minutes": 0,
    "min_notice_hours": 2,
    "horizon_days": 60,
    "cancel_deadline_hours": 24,
    "max_per_day_per_citizen": 1,
    "max_active_per_citizen": 3,
    "max_slots_per_booking": 1,
    "max_series_count": 0,
}
# the services' field messages that need more than the generic translation
FIELD_TEXT = {
    "already used": "Già in uso da un altro servizio: ne scelga un altro.",
    "resource calendars only": "Solo per i servizi con calendario per sportello.",
    "unknown resource": "Risorsa sconosciuta.",
    "unknown location": "Sede sconosciuta.",
    "below booked": "Non può essere inferiore ai posti già prenotati.",
    "overlap": "Due fasce dello stesso giorno si sovrappongono.",
    "not a resource of this service": "La risorsa non eroga questo servizio.",
    "before start": "L'ora di fine deve seguire quella di inizio.",
}
OUTCOME = {
    "creato": "Servizio creato: ora ne imposti gli orari.",
    "salvato": "Modifiche salvate.",
    "ritirato": "Servizio ritirato: non è più prenotabile; le prenotazioni confermate restano.",
    "riattivato": "Servizio di nuovo prenotabile.",
    "orari": "Orario settimanale salvato.",
    "orari_propri": "Orario proprio della risorsa salvato.",
    "orari_servizio": "La risorsa torna a seguire l'orario del servizio.",
    "eccezione": "Chiusura o apertura straordinaria aggiunta.",
    "eccezione_tolta": "Eccezione eliminata.",
    "evento": "Evento aggiunto.",
    "posti": "Posti dell'evento aggiornati.",
    "evento_tolto": "Evento eliminato.",
    "sede": "Sede creata.",
    "sede_salvata": "Sede aggiornata.",
    "risorsa": "Risorsa creata.",
    "risorsa_salvata": "Risorsa aggiornata.",
    "risorsa_riattivata": "Risorsa riattivata.",
}


def _ok(request: Request) -> str:
    key = request.args.get("esito", "")
    if key == "risorsa_disattivata":
        n = as_int(request.args.get("n")) or 0
        return "Risorsa disattivata: non riceve più prenotazioni. " + (
            "Nessuna prenotazione confermata da spostare."
            if n == 0
            else "Resta 1 prenotazione confermata da spostare."
            if n == 1
            else f"Restano {n} prenotazioni confermate da spostare."
        )
    return OUTCOME.get(key, "")


def _field_text(msg: str) -> str:
    return FIELD_TEXT.get(str(msg), "") or field_message(str(msg))


def _errors(exc: ApiError | ValidationError) -> tuple[str, dict[str, str]]:
    """(sentence for the page, field -> Italian message) for a form to show again; a 404 is not a form problem and
    goes on to the error page."""
    if isinstance(exc, ApiError) and exc.status == 404:
        raise exc
    if isinstance(exc, ValidationError):
        fields = model_errors(exc)
        return "Alcuni campi non sono validi: li corregga e riprovi.", fields
    fields = {k.split(".")[0]: _field_text(v) for k, v in exc.fields.items()}
    if "seats" in exc.fields:
        return "Non si possono avere meno posti di quelli già prenotati.", fields
    if exc.code == "in_use" and "event" in exc.message:
        return "L'evento ha prenotazioni: le annulli prima di eliminarlo o di cambiarne l'orario.", fields
    if exc.code == "in_use":
        return "L'elemento è ancora in uso e non si può eliminare.", fields
    if "hours" in exc.fields:
        return "Due fasce dello stesso giorno si sovrappongono: le corregga e riprovi.", fields
    return service_error(exc), fields


def _int(raw: Any) -> Any:
    raw = str(raw or "").strip()
    return int(raw) if re.fullmatch(r"[+-]?\d+", raw) else (raw or None)


def _ids(form: Any, name: str) -> list[int]:
    return [int(x) for x in (form.getlist(name) or []) if str(x).isdigit()]


def _service_values(form: Any, *, create: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": (form.get("name") or "").strip(),
        "description": (form.get("description") or "").strip(),
        "what_to_bring": (form.get("what_to_bring") or "").strip(),
        "one_active_per_citizen": form.get("one_active_per_citizen") == "1",
        "resource_ids": _ids(form, "resource_ids"),
    }
    for name, _, _ in NUMBERS + RESOURCE_NUMBERS:
        if name in form:
            value = _int(form.get(name))
            if value is not None:
                data[name] = value
    if create:
        data["kind"] = form.get("kind") or "multi_resource"
        data["slug"] = (form.get("slug") or "").strip() or slugify(data["name"])
        prefix = (form.get("code_prefix") or "").strip().upper()
        if not prefix:
            letters = re.sub(
                r"[^A-Z]", "", unicodedata.normalize("NFKD", data["name"]).encode("ascii", "ignore").decode().upper()
            )
            prefix = letters[:2] if letters[:2] not in RESERVED_CODE_PREFIXES else letters[0] + "X"
        data["code_prefix"] = prefix
    return data


def _back(path: str, **params: Any) -> HTTPResponse:
    return redirect(path + ("?" + urlencode(params) if params else ""), status=303)


# --- services -------------------------------------------------------------------------------------------------------
@bp.get("/bookings/services")
@console_page(*ADMINS)
async def admin_services(request: Request, p: Principal) -> HTTPResponse:
    async with db_session(request) as s:
        rows = list(await bookings.list_services(s, ente_id=p.ente_id, include_inactive=True))
        counts = {x.id: len(await bookings.service_resource_ids(s, x.id)) for x in rows}
    return render(
        "bookings_admin_services.html",
        **context(request, p, rows=rows, counts=counts, ok=_ok(request), KIND_SHORT=KIND_SHORT),
    )


async def _service_form(
    request: Request,
    p: Any,
    svc: Any,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    err: str = "",
    status: int = 200,
) -> HTTPResponse:
    async with db_session(request) as s:
        resources = list(await bookings.list_resources(s, ente_id=p.ente_id, include_inactive=True))
        locations = {x.id: x.name for x in await bookings.list_locations(s, ente_id=p.ente_id)}
        linked = await bookings.service_resource_ids(s, svc.id) if svc is not None else []
    if values is None:
        values = dict(DEFAULTS)
        if svc is not None:
            values = {
                name: getattr(svc, name)
                for name in (
                    "name",
                    "description",
                    "kind",
                    "what_to_bring",
                    "one_active_per_citizen",
                    "slug",
                    "code_prefix",
                    *(n for n, _, _ in NUMBERS + RESOURCE_NUMBERS),
                )
            }
            values["resource_ids"] = linked
    options = [
        (r.id, f"{r.name} ({locations.get(r.location_id, 'sede')})" + ("" if r.active else " — disattivata"))
        for r in resources
        if r.active or r.id in linked
    ]
    return render(
        "bookings_admin_service_form.html",
        status=status,
        **context(
            request,
            p,
            svc=svc,
            values=values,
            errors=errors or {},
            err=err,
            resource_options=options,
            numbers=NUMBERS,
            resource_numbers=RESOURCE_NUMBERS,
            KIND_LABEL=KIND_LABEL,
        ),
    )


@bp.get("/bookings/services/new")
@console_page(*ADMINS)
async def admin_service_new(request: Request, p: Principal) -> HTTPResponse:
    return await _service_form(request, p, None)


@bp.post("/bookings/services")
@console_page(*ADMINS)
async def admin_service_create(request: Request, p: Principal) -> HTTPResponse:
    form = request.form or {}
    values = _service_values(form, create=True)
    try:
        data = ServiceIn(**values)
        async with begin(request, screen=SCREEN) as cx:
            service_id = (await commands.create_service(cx, data=data)).id
    except (ApiError, ValidationError) as exc:
        err, fields = _errors(exc)
        return await _service_form(
            request, p, None, values=values, errors=fields, err=err, status=getattr(exc, "status", 422)
        )
    return _back(f"/console/bookings/services/{service_id}", esito="creato")


@bp.post("/bookings/services/<service_id:int>")
@console_page(*ADMINS)
async def admin_service_update(request: Request, p: Principal, service_id: int) -> HTTPResponse:
    form = request.form or {}
    values = _service_values(form, create=False)
    async with db_session(request) as s:
        svc = await bookings.get_service(s, ente_id=p.ente_id, service_id=service_id)
    try:
        data = ServicePatch(**values)
        async with begin(request, screen=SCREEN) as cx:
            await commands.update_service(cx, service_id=service_id, data=data)
    except (ApiError, ValidationError) as exc:
        err, fields = _errors(exc)
        values.update(kind=svc.kind, slug=svc.slug, code_prefix=svc.code_prefix)
        return await _service_form(
            request, p, svc, values=values, errors=fields, err=err, status=getattr(exc, "status", 422)
        )
    return _back(f"/console/bookings/services/{service_id}", esito="salvato")


@bp.get("/bookings/services/<service_id:int>/edit")
@console_page(*ADMINS)
async def admin_service_edit(request: Request, p: Principal, service_id: int) -> HTTPResponse:
    async with db_session(request) as s:
        svc = await bookings.get_service(s, ente_id=p.ente_id, service_id=service_id)
    return await _service_form(request, p, svc)


@bp.post("/bookings/services/<service_id:int>/active")
@console_page(*ADMINS)
async def admin_service_active(request: Request, p: Principal, service_id: int) -> HTTPResponse:
    form = request.form or {}
    active = form.get("active") == "1"
    async with begin(request, screen=SCREEN) as cx:
        await commands.set_service_active(cx, service_id=service_id, active=active)
    target = (
        "/console/bookings/services" if form.get("back") == "elenco" else f"/console/bookings/services/{service_id}"
    )
    return _back(target, esito="riattivato" if active else "ritirato")


# --- one service: hours, closures, events -----------------------------------------------------------------------
async def _service_page(
    request: Request,
    p: Any,
    service_id: int,
    *,
    calendar: int | None = None,
    err: str = "",
    errors: dict[str, str] | None = None,
    hours_rows: list[dict[str, str]] | None = None,
    exc_values: dict[str, Any] | None = None,
    event_values: dict[str, Any] | None = None,
    status: int = 200,
) -> HTTPResponse:
    async with db_session(request) as s:
        svc = await bookings.get_service(s, ente_id=p.ente_id, service_id=service_id)
        tz = await ente_tz(s, p.ente_id)
        today = datetime.now(tz).date()
        linked = await bookings.service_resource_ids(s, svc.id)
        all_resources = {r.id: r for r in await bookings.list_resources(s, ente_id=p.ente_id, include_inactive=True)}
        locations = list(await bookings.list_locations(s, ente_id=p.ente_id))
        hours = list(await bookings.get_hours(s, ente_id=p.ente_id, service_id=svc.id))
        exceptions = list(await bookings.list_exceptions(s, ente_id=p.ente_id, service_id=svc.id, d_from=today))
        events = (
            list(await bookings.list_events(s, ente_id=p.ente_id, service_id=svc.id)) if svc.kind == "capacity" else []
        )
    resources = [all_resources[i] for i in linked if i in all_resources]
    own = {h.resource_id for h in hours if h.resource_id is not None}
    if calendar not in linked:
        calendar = None
    if hours_rows is None:
        hours_rows = [
            {"weekday": str(h.weekday), "start": h.start.strftime("%H:%M"), "end": h.end.strftime("%H:%M")}
            for h in hours
            if h.resource_id == calendar
        ]
    hours_rows = hours_rows + [{"weekday": "", "start": "", "end": ""} for _ in range(max(4, 14 - len(hours_rows)))]
    loc_names = {x.id: x.name for x in locations}
    return render(
        "bookings_admin_service.html",
        status=status,
        **context(
            request,
            p,
            svc=svc,
            tz=tz,
            today=today,
            resources=resources,
            own=own,
            calendar=calendar,
            calendar_name=all_resources[calendar].name if calendar else "",
            hours_rows=hours_rows,
            weekdays=[(str(i), d.capitalize()) for i, d in enumerate(WEEKDAYS)],
            exceptions=exceptions,
            res_names={r.id: r.name for r in all_resources.values()},
            events=events,
            locations=locations,
            loc_names=loc_names,
            ok=_ok(request),
            err=err,
            errors=errors or {},
            exc_values=exc_values or {},
            event_values=event_values or {},
            KIND_LABEL=KIND_LABEL,
        ),
    )


@bp.get("/bookings/services/<service_id:int>")
@console_page(*ADMINS)
async def admin_service(request: Request, p: Principal, service_id: int) -> HTTPResponse:
    return await _service_page(request, p, service_id, calendar=as_int(request.args.get("calendario")))


@bp.post("/bookings/services/<service_id:int>/hours")
@console_page(*ADMINS)
async def admin_hours(request: Request, p: Principal, service_id: int) -> HTTPResponse:
    form = request.form or {}
    resource_id = as_int(form.get("resource_id"))
    days, starts, ends = form.getlist("weekday") or [], form.getlist("start") or [], form.getlist("end") or []
    rows = [
        {"weekday": str(d or ""), "start": str(a or ""), "end": str(b or "")}
        for d, a, b in zip(days, starts, ends, strict=False)
    ]
    rows = [r for r in rows if r["weekday"] or r["start"] or r["end"]]
    hours: list[IntervalIn] = []
    problems: list[str] = []
    for n, r in enumerate(rows, 1):
        try:
            hours.append(IntervalIn(weekday=r["weekday"], start=r["start"], end=r["end"]))
        except ValidationError as exc:
            what = (
                "l'ora di fine deve seguire quella di inizio"
                if "end must be after start" in str(exc)
                else "indichi giorno, ora di inizio e ora di fine"
            )
            problems.append(f"fascia {n}: {what}")
    err = ("Orario non salvato: " + "; ".join(problems) + ".") if problems else ""
    if not err:
        try:
            async with begin(request, screen=SCREEN) as cx:
                await commands.set_hours(cx, service_id=service_id, hours=hours, resource_id=resource_id)
        except ApiError as exc:
            if exc.status == 404:
                raise
            err = _errors(exc)[0]
    if err:
        return await _service_page(request, p, service_id, calendar=resource_id, err=err, hours_rows=rows, status=422)
    esito = "orari" if resource_id is None else ("orari_propri" if hours else "orari_servizio")
    params: dict[str, Any] = {"esito": esito}
    if resource_id is not None:
        params["calendario"] = resource_id
    return _back(f"/console/bookings/services/{service_id}", **params)


@bp.post("/bookings/services/<service_id:int>/exceptions")
@console_page(*ADMINS)
async def admin_exception_add(request: Request, p: Principal, service_id: int) -> HTTPResponse:
    form = request.form or {}
    values: dict[str, Any] = {
        "day": (form.get("day") or "").strip(),
        "closed": form.get("closed") != "0",
        "note": (form.get("note") or "").strip(),
        "all_services": form.get("all_services") == "1",
        "resource_id": as_int(form.get("resource_id")),
    }
    for name in ("start", "end"):
        if (form.get(name) or "").strip():
            values[name] = form.get(name).strip()
    try:
        data = ExceptionIn(**values)
        async with begin(request, screen=SCREEN) as cx:
            await commands.add_exception(cx, service_id=service_id, data=data)
    except (ApiError, ValidationError) as exc:
        err, fields = _errors(exc)
        if "form" in fields:
            err = "Per un'apertura straordinaria indichi l'ora di inizio e quella di fine (la fine dopo l'inizio)."
        return await _service_page(
            request,
            p,
            service_id,
            err=err,
            errors={f"x_{k}": v for k, v in fields.items()},
            exc_values=values,
            status=getattr(exc, "status", 422),
        )
    return _back(f"/console/bookings/services/{service_id}", esito="eccezione")


@bp.post("/bookings/services/<service_id:int>/exceptions/<exception_id:int>/delete")
@console_page(*ADMINS)
async def admin_exception_delete(request: Request, p: Principal, service_id: int, exception_id: int) -> HTTPResponse:
    async with begin(request, screen=SCREEN) as cx:
        await commands.delete_exception(cx, exception_id=exception_id)
    return _back(f"/console/bookings/services/{service_id}", esito="eccezione_tolta")


def _at(day: str, hhmm: str, tz: Any) -> datetime | str:
    try:
        return datetime.combine(date.fromisoformat(day), time.fromisoformat(hhmm), tz)
    except ValueError:
        return ""


@bp.post("/bookings/services/<service_id:int>/events")
@console_page(*ADMINS)
async def admin_event_add(request: Request, p: Principal, service_id: int) -> HTTPResponse:
    form = request.form or {}
    values = {k: (form.get(k) or "").strip() for k in ("title", "location_id", "day", "start", "end", "seats")}
    try:
        async with begin(request, screen=SCREEN) as cx:
            tz = await ente_tz(cx.session, p.ente_id)
            data = EventIn(
                title=values["title"],
                location_id=_int(values["location_id"]),
                seats=_int(values["seats"]),
                start=_at(values["day"], values["start"], tz),
                end=_at(values["day"], values["end"], tz),
            )
            await commands.add_event(cx, service_id=service_id, data=data)
    except (ApiError, ValidationError) as exc:
        err, fields = _errors(exc)
        if "start" in fields:
            fields.setdefault("day", "Indichi giorno e ora di inizio validi.")
        return await _service_page(
            request,
            p,
            service_id,
            err=err,
            errors={f"e_{k}": v for k, v in fields.items()},
            event_values=values,
            status=getattr(exc, "status", 422),
        )
    return _back(f"/console/bookings/services/{service_id}", esito="evento")


@bp.post("/bookings/services/<service_id:int>/events/<event_id:int>/seats")
@console_page(*ADMINS)
async def admin_event_seats(request: Request, p: Principal, service_id: int, event_id: int) -> HTTPResponse:
    form = request.form or {}
    try:
        data = EventPatch(seats=_int(form.get("seats")))
        async with begin(request, screen=SCREEN) as cx:
            await commands.update_event(cx, event_id=event_id, data=data, service_id=service_id)
    except (ApiError, ValidationError) as exc:
        err, fields = _errors(exc)
        return await _service_page(
            request,
            p,
            service_id,
            err=err,
            errors={f"seats_{event_id}": fields.get("seats", err)},
            status=getattr(exc, "status", 422),
        )
    return _back(f"/console/bookings/services/{service_id}", esito="posti")


@bp.post("/bookings/services/<service_id:int>/events/<event_id:int>/delete")
@console_page(*ADMINS)
async def admin_event_delete(request: Request, p: Principal, service_id: int, event_id: int) -> HTTPResponse:
    try:
        async with begin(request, screen=SCREEN) as cx:
            await commands.delete_event(cx, event_id=event_id, service_id=service_id)
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _service_page(request, p, service_id, err=_errors(exc)[0], status=exc.status)
    return _back(f"/console/bookings/services/{service_id}", esito="evento_tolto")


# --- locations and resources ----------------------------------------------------------------------------------------
async def _places_page(
    request: Request,
    p: Any,
    *,
    err: str = "",
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HTTPResponse:
    async with db_session(request) as s:
        locations = list(await bookings.list_locations(s, ente_id=p.ente_id))
        resources = list(await bookings.list_resources(s, ente_id=p.ente_id, include_inactive=True))
        pending = {r.id: await bookings.upcoming_bookings_of_resource(s, r.id) for r in resources}
    return render(
        "bookings_admin_places.html",
        status=status,
        **context(
            request,
            p,
            locations=locations,
            resources=resources,
            pending=pending,
            loc_names={x.id: x.name for x in locations},
            ok=_ok(request),
            err=err,
            errors=errors or {},
            values=values or {},
        ),
    )


@bp.get("/bookings/places")
@console_page(*ADMINS)
async def admin_places(request: Request, p: Principal) -> HTTPResponse:
    return await _places_page(request, p)


async def _place_change(request: Request, p: Principal, work: Any, esito: str, prefix: str) -> HTTPResponse:
    form = request.form or {}
    try:
        async with begin(request, screen=SCREEN) as cx:
            extra = await work(cx, form)
    except (ApiError, ValidationError) as exc:
        err, fields = _errors(exc)
        return await _places_page(
            request,
            p,
            err=err,
            errors={f"{prefix}{k}": v for k, v in fields.items()},
            values={f"{prefix}{k}": form.get(k) for k in form} if prefix.startswith("new") else {},
            status=getattr(exc, "status", 422),
        )
    return _back("/console/bookings/places", esito=esito, **(extra or {}))


def _text(form: Any, name: str) -> str:
    return (form.get(name) or "").strip()


@bp.post("/bookings/locations")
@console_page(*ADMINS)
async def admin_location_create(request: Request, p: Principal) -> HTTPResponse:
    async def work(cx: Context, form: Any) -> None:
        await commands.create_location(cx, data=LocationIn(name=_text(form, "name"), address=_text(form, "address")))

    return await _place_change(request, p, work, "sede", "newloc_")


@bp.post("/bookings/locations/<location_id:int>")
@console_page(*ADMINS)
async def admin_location_update(request: Request, p: Principal, location_id: int) -> HTTPResponse:
    async def work(cx: Context, form: Any) -> None:
        data = LocationPatch(name=_text(form, "name"), address=_text(form, "address"))
        await commands.update_location(cx, location_id=location_id, data=data)

    return await _place_change(request, p, work, "sede_salvata", f"loc{location_id}_")


@bp.post("/bookings/resources")
@console_page(*ADMINS)
async def admin_resource_create(request: Request, p: Principal) -> HTTPResponse:
    async def work(cx: Context, form: Any) -> None:
        data = ResourceIn(name=_text(form, "name"), location_id=_int(form.get("location_id")))
        await commands.create_resource(cx, data=data)

    return await _place_change(request, p, work, "risorsa", "newres_")


@bp.post("/bookings/resources/<resource_id:int>")
@console_page(*ADMINS)
async def admin_resource_update(request: Request, p: Principal, resource_id: int) -> HTTPResponse:
    async def work(cx: Context, form: Any) -> None:
        data = ResourcePatch(name=_text(form, "name"), location_id=_int(form.get("location_id")))
        await commands.update_resource(cx, resource_id=resource_id, data=data)

    return await _place_change(request, p, work, "risorsa_salvata", f"res{resource_id}_")


@bp.post("/bookings/resources/<resource_id:int>/active")
@console_page(*ADMINS)
async def admin_resource_active(request: Request, p: Principal, resource_id: int) -> HTTPResponse:
    async def work(cx: Context, form: Any) -> dict[str, Any]:
        active = form.get("active") == "1"
        _, n = await commands.set_resource_active(cx, resource_id=resource_id, active=active)
        return {} if active else {"n": n}

    form = request.form or {}
    esito = "risorsa_riattivata" if form.get("active") == "1" else "risorsa_disattivata"
    return await _place_change(request, p, work, esito, f"res{resource_id}_")

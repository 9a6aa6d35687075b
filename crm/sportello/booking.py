"""Prenota appuntamento (criterion C.SI.2.1, ``data-element="appointment-booking"``): office, topic and reason, day
and time from live availability, contact data (the signed-in profile's, or typed in), summary, confirmation with the
code and the .ics. Reached from every service page with the office and topic pre-selected.

Nothing the citizen types travels in a URL: the first step is a POST that keeps the service and the reason as a
booking in progress (``sp_booking_drafts``) and sends the browser on with a random token (``?bozza=``), so the
later steps are still plain links (Back and reload work) that carry only that token and the chosen time. The
personal data travel only by POST."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from sanic import Request
from sanic.response import HTTPResponse, raw, redirect
from sqlalchemy import select

from crm.bookings import commands as booking_commands
from crm.bookings import service as bookings
from crm.bookings.ics import booking_ics
from crm.bookings.models import Booking, Location, Service
from crm.bookings.schemas import BookingIn
from crm.citizens import commands as citizen_commands
from crm.contacts.schemas import ContactIn
from crm.core.errors import ApiError, Conflict, NotFound, ValidationFailed
from crm.db import read_session, transaction, utcnow
from crm.entes import service as entes
from crm.offices.models import Office
from crm.sportello import doors, service
from crm.sportello.kit import bp, days_of, render, sign, signed_ok, tz_of
from crm.sportello.pages import ente_id_of
from crm.sportello.session import Citizen, Redirect, acting_as, browser_id, citizen_page

DAYS_SHOWN = 21  # how far ahead availability is read
DAYS_LISTED = 10  # how many days with free times are offered
STEPS = ["Ufficio e motivo", "Data e ora", "I tuoi dati", "Riepilogo"]


async def _catalogue(request: Request, ente_id: int) -> tuple[list[Service], dict[int, Office]]:
    async with read_session(request) as s:
        services = list(
            (
                await s.scalars(
                    select(Service)
                    .where(
                        Service.ente_id == ente_id,
                        Service.active.is_(True),
                        Service.office_id.is_not(None),
                        Service.kind != "capacity",
                    )
                    .order_by(Service.name)
                )
            ).all()
        )
        offices = {o.id: o for o in (await s.scalars(select(Office).where(Office.ente_id == ente_id))).all()}
    return services, offices


def _chosen(services: list[Service], slug: str | None) -> Service | None:
    return next((s for s in services if s.slug == slug), None) if slug else None


def step_url(path: str, token: str, **params: str) -> str:
    """A link to a later step: the booking in progress's token and, at most, the chosen time; never free text."""
    return f"/sportello/prenota{path}?" + urlencode({"bozza": token, **params})


async def _draft(request: Request, ente_id: int, token: str | None) -> Any:
    async with read_session(request) as s:
        return await service.get_booking_draft(s, ente_id=ente_id, browser=browser_id(request), token=token)


def _office_page(
    request: Request,
    services: list[Service],
    offices: dict[int, Office],
    chosen: Service | None,
    reason: str,
    from_page: bool,
    token: str,
    error: str | None,
    status: int = 200,
) -> HTTPResponse:
    if chosen is not None and from_page:
        services = [s for s in services if s.office_id == chosen.office_id]  # only the competent office
    office_ids = sorted({s.office_id for s in services if s.office_id}, key=lambda i: offices[i].name)
    return render(
        request,
        "booking_office.html",
        steps=STEPS,
        step=1,
        services=services,
        offices=offices,
        office_ids=office_ids,
        chosen=chosen,
        reason=reason,
        from_page="scheda" if from_page else "",
        token=token,
        error=error,
        rating_service="appointment-booking",
        status=status,
    )


@bp.get("/prenota")
@citizen_page()
async def step_office(request: Request, citizen: Citizen | None) -> HTTPResponse:
    ente_id = await ente_id_of(request)
    services, offices = await _catalogue(request, ente_id)
    draft = await _draft(request, ente_id, request.args.get("bozza"))
    if draft is not None:  # Back from a later step: what the citizen chose and wrote is still there
        return _office_page(
            request,
            services,
            offices,
            _chosen(services, draft.service_slug),
            draft.reason,
            draft.from_page,
            request.args.get("bozza", ""),
            request.args.get("errore"),
        )
    error = request.args.get("errore")
    return _office_page(
        request,
        services,
        offices,
        _chosen(services, request.args.get("servizio")),
        "",
        request.args.get("da") == "scheda",
        "",
        error if error in ("scaduta", "servizio") else None,
    )


@bp.post("/prenota")
@citizen_page()
async def step_office_done(request: Request, citizen: Citizen | None) -> HTTPResponse:
    ente_id = await ente_id_of(request)
    form = request.form or {}
    services, offices = await _catalogue(request, ente_id)
    svc = _chosen(services, str(form.get("servizio") or ""))
    office_id = str(form.get("ufficio") or "")
    reason = str(form.get("motivo") or "").strip()[:500]
    from_page, token = form.get("da") == "scheda", str(form.get("bozza") or "")[:64]
    error = (
        "servizio"
        if svc is None or (office_id and office_id != str(svc.office_id))
        else "motivo"
        if not reason
        else None
    )
    if error:
        return _office_page(request, services, offices, svc, reason, from_page, token, error, status=422)
    assert svc is not None
    async with transaction(request.app.ctx.sessionmaker) as s:
        token = await service.save_booking_draft(
            s,
            ente_id=ente_id,
            browser=browser_id(request),
            service_slug=svc.slug,
            reason=reason,
            from_page=from_page,
            token=token or None,
        )
    return redirect(step_url("/orari", token), status=303)


async def _in_progress(request: Request, token: str | None) -> tuple[int, Service, Office | None, str, str]:
    """The booking in progress of this link and browser: (ente, service, office, reason, token); an unknown or
    expired one sends the citizen back to the first step."""
    ente_id = await ente_id_of(request)
    services, offices = await _catalogue(request, ente_id)
    draft = await _draft(request, ente_id, token)
    svc = _chosen(services, draft.service_slug) if draft is not None else None
    if draft is None or svc is None:
        raise Redirect("/sportello/prenota?errore=scaduta")
    return ente_id, svc, offices.get(svc.office_id or 0), draft.reason, str(token)


@bp.get("/prenota/orari")
@citizen_page()
async def step_time(request: Request, citizen: Citizen | None) -> HTTPResponse:
    ente_id, svc, office, reason, token = await _in_progress(request, request.args.get("bozza"))
    tz = tz_of(request)
    today = utcnow().astimezone(tz).date()
    async with read_session(request) as s:
        slots = await bookings.availability(
            s, ente_id=ente_id, service_id=svc.id, d_from=today, d_to=today + timedelta(days=DAYS_SHOWN)
        )
    # the day first, then its times: a phone shows one day's times, not three weeks of them
    days, chosen = days_of(slots, tz, request.args.get("giorno"), DAYS_LISTED)
    return render(
        request,
        "booking_time.html",
        steps=STEPS,
        step=2,
        svc=svc,
        office=office,
        token=token,
        days=days,
        chosen=chosen,
        tz=tz,
        error=request.args.get("errore"),
        day_href=lambda d: step_url("/orari", token, giorno=d.isoformat()),
        rating_service="appointment-booking",
    )


def _start_of(value: str) -> datetime:
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("Orario non valido: lo scelga di nuovo.", fields={"inizio": "non valido"}) from None
    if start.tzinfo is None:
        raise ValidationFailed("Orario non valido: lo scelga di nuovo.", fields={"inizio": "non valido"})
    return start


async def _booking_context(request: Request, args: Any) -> dict[str, Any]:
    ente_id, svc, office, reason, token = await _in_progress(request, args.get("bozza"))
    start = _start_of(str(args.get("inizio") or ""))
    return {
        "ente_id": ente_id,
        "svc": svc,
        "office": office,
        "start": start,
        "reason": reason,
        "token": token,
        "tz": tz_of(request),
        "step_url": step_url,
    }


@bp.get("/prenota/dati")
@citizen_page()
async def step_data(request: Request, citizen: Citizen | None) -> HTTPResponse:
    ctx = await _booking_context(request, request.args)
    return render(
        request,
        "booking_data.html",
        steps=STEPS,
        step=3,
        person=_profile(citizen),
        errors={},
        rating_service="appointment-booking",
        **ctx,
    )


@bp.post("/prenota/dati")
@citizen_page()
async def step_data_back(request: Request, citizen: Citizen | None) -> HTTPResponse:
    """Back from the summary: the contact data typed are shown again, not lost (they travel by POST only)."""
    form = request.form or {}
    ctx = await _booking_context(request, form)
    person, _ = _person_from_form(form, citizen)
    return render(
        request,
        "booking_data.html",
        steps=STEPS,
        step=3,
        person=person,
        errors={},
        rating_service="appointment-booking",
        **ctx,
    )


def _profile(citizen: Citizen | None) -> dict[str, str]:
    """Once only: what the comune already knows about a signed-in citizen fills the form."""
    if citizen is None:
        return {}
    c = citizen.contact
    return {
        "first_name": c.first_name,
        "last_name": c.last_name,
        "fiscal_code": c.fiscal_code or "",
        "email": c.emails[0].email if c.emails else "",
        "phone": c.phones[0].e164 if c.phones else "",
    }


def _person_from_form(form: Any, citizen: Citizen | None) -> tuple[dict[str, str], dict[str, str]]:
    person = _profile(citizen)
    errors: dict[str, str] = {}
    for key in ("first_name", "last_name", "email", "phone"):
        if citizen is None or key in ("email", "phone"):
            value = str(form.get(key) or "").strip()[:200]
            if value or citizen is None:
                person[key] = value
    if citizen is None:
        if not person.get("first_name"):
            errors["first_name"] = "Indichi il nome."
        if not person.get("last_name"):
            errors["last_name"] = "Indichi il cognome."
    if not person.get("email") and not person.get("phone"):
        errors["email"] = "Indichi almeno un recapito: e-mail o telefono."
    try:
        ContactIn(
            emails=[person["email"]] if person.get("email") else [],
            phones=[person["phone"]] if person.get("phone") else [],
        )
    except ValidationError as exc:
        for e in exc.errors():
            errors["email" if e["loc"][0] == "emails" else "phone"] = (
                "Indirizzo e-mail non valido." if e["loc"][0] == "emails" else "Numero di telefono non valido."
            )
    return person, errors


@bp.post("/prenota/riepilogo")
@citizen_page()
async def step_summary(request: Request, citizen: Citizen | None) -> HTTPResponse:
    form = request.form or {}
    ctx = await _booking_context(request, form)
    person, errors = _person_from_form(form, citizen)
    if not str(form.get("privacy") or "") and citizen is None:
        errors["privacy"] = "Per proseguire occorre prendere visione dell'informativa privacy."
    if errors:
        return render(
            request,
            "booking_data.html",
            steps=STEPS,
            step=3,
            person=person,
            errors=errors,
            rating_service="appointment-booking",
            status=422,
            **ctx,
        )
    return render(
        request,
        "booking_summary.html",
        steps=STEPS,
        step=4,
        person=person,
        key=secrets.token_urlsafe(16),
        rating_service="appointment-booking",
        **ctx,
    )


ITALIAN = {
    "slot_taken": "L'orario scelto non è più libero: ne scelga un altro.",
    "contact_id": "Ha già il numero massimo di appuntamenti attivi per questo servizio.",
    "start": "L'orario scelto non è più prenotabile: ne scelga un altro.",
}


def italian(exc: ApiError) -> str:
    if exc.code == "slot_taken":
        return ITALIAN["slot_taken"]
    for key in exc.fields:
        if key in ITALIAN:
            return ITALIAN[key]
        if key.startswith("fields."):
            return "Il servizio richiede dati che mancano o non sono validi: " + key.split(".", 1)[1].replace("_", " ")
    return "Non è stato possibile completare la prenotazione. Riprovi."


@bp.post("/prenota/conferma")
@citizen_page()
async def confirm(request: Request, citizen: Citizen | None) -> HTTPResponse:
    form = request.form or {}
    ctx = await _booking_context(request, form)
    person, errors = _person_from_form(form, citizen)
    key = str(form.get("key") or "")[:64] or secrets.token_urlsafe(16)
    if errors:
        return render(
            request,
            "booking_data.html",
            steps=STEPS,
            step=3,
            person=person,
            errors=errors,
            rating_service="appointment-booking",
            status=422,
            **ctx,
        )
    svc: Service = ctx["svc"]
    fields = _fields_for(svc, person, ctx["reason"])
    try:
        async with acting_as(request, citizen, ctx["ente_id"]) as cx:
            if citizen is None:
                await citizen_commands.register_visitor(
                    cx,
                    data=ContactIn(
                        first_name=person["first_name"],
                        last_name=person["last_name"],
                        emails=[person["email"]] if person.get("email") else [],
                        phones=[person["phone"]] if person.get("phone") else [],
                        consent_privacy=True,
                        preferred_channel="email" if person.get("email") else "sms",
                    ),
                )
            b, _ = await booking_commands.book(
                cx,
                data=BookingIn(
                    service_id=svc.id,
                    start=ctx["start"],
                    contact_id=cx.principal.contact_id,
                    fields=fields,
                    channel="web",
                ),
                idempotency_key=f"sportello:{key}",
            )
            booking_id = b.id
    except (Conflict, ValidationFailed) as exc:
        return render(
            request,
            "booking_summary.html",
            steps=STEPS,
            step=4,
            person=person,
            key=key,
            error=italian(exc),
            rating_service="appointment-booking",
            status=exc.status,
            **ctx,
        )
    return redirect(f"/sportello/prenota/fatto/{booking_id}?t={sign(request, f'booking:{booking_id}')}", status=303)


def _fields_for(svc: Service, person: dict[str, str], reason: str) -> dict[str, Any]:
    """The service's own form, filled from what we know: only the keys it declares (all of them if it declares
    none); the reason goes to ``notes`` (or ``reason``)."""
    known = {
        "first_name": person.get("first_name", ""),
        "last_name": person.get("last_name", ""),
        "fiscal_code": person.get("fiscal_code", ""),
        "email": person.get("email", ""),
        "phone": person.get("phone", ""),
        "notes": reason,
        "reason": reason,
    }
    props = (svc.form_schema or {}).get("properties")
    if not props:
        return {k: v for k, v in known.items() if v and k != "reason"}
    out = {k: v for k, v in known.items() if k in props and v}
    if (
        "notes" not in props
        and "reason" not in props
        and (svc.form_schema or {}).get("additionalProperties") is not False
    ):
        out["notes"] = reason
    return out


async def _own_or_signed(request: Request, citizen: Citizen | None, booking_id: int) -> Booking:
    """A booking shown after it was made: the citizen's own, or proven by the signed link of the confirmation."""
    token = request.args.get("t", "")
    if citizen is not None and not token:
        async with acting_as(request, citizen, citizen.principal.ente_id) as cx:
            return await doors.booking(cx, booking_id)
    async with read_session(request) as s:
        b = await s.get(Booking, booking_id)
    if b is None or not signed_ok(request, f"booking:{booking_id}", token):
        raise NotFound("prenotazione non trovata")
    return b


@bp.get("/prenota/fatto/<booking_id:int>")
@citizen_page()
async def done(request: Request, citizen: Citizen | None, booking_id: int) -> HTTPResponse:
    await ente_id_of(request)
    b = await _own_or_signed(request, citizen, booking_id)
    async with read_session(request) as s:
        svc = await s.get(Service, b.service_id)
        place = await s.get(Location, b.location_id) if b.location_id else None
    return render(
        request,
        "booking_done.html",
        b=b,
        svc=svc,
        place=place,
        tz=tz_of(request),
        ics=f"/sportello/prenota/ics/{b.id}?t={sign(request, f'booking:{b.id}')}",
        rating_service="appointment-booking",
        rating_question="Quanto è stato facile usare questo servizio?",
    )


@bp.get("/prenota/ics/<booking_id:int>")
@citizen_page()
async def ics(request: Request, citizen: Citizen | None, booking_id: int) -> HTTPResponse:
    b = await _own_or_signed(request, citizen, booking_id)
    async with read_session(request) as s:
        svc = await s.get(Service, b.service_id)
        ente = await entes.get(s, b.ente_id)
        place = await s.get(Location, b.location_id) if b.location_id else None
    assert svc is not None
    return raw(
        booking_ics(b, svc, ente_name=ente.name, ente_slug=ente.slug, place=place),
        content_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{b.code}.ics"'},
    )

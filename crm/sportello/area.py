"""Area personale: the citizen's own bookings (cancel, reschedule within the rules), istanze (history, protocol,
deadline, integration requests answered with attachments, receipt PDF), requests and segnalazioni, conversations and
the messages the comune sent. Every read is audited; another person's id answers 404."""

from __future__ import annotations

from datetime import timedelta

from sanic import Request
from sanic.response import HTTPResponse, raw, redirect
from sqlalchemy import select

from crm.bookings import commands as booking_commands
from crm.bookings import service as bookings
from crm.bookings.models import Location, Service
from crm.citizens import commands as citizen_commands
from crm.citizens import service as citizens
from crm.core.errors import ApiError, Conflict, ValidationFailed
from crm.db import utcnow
from crm.entes import service as entes
from crm.instances import commands as instance_commands
from crm.instances import receipt
from crm.instances.models import InstanceType
from crm.sportello import doors, service
from crm.sportello.booking import _start_of, italian
from crm.sportello.kit import bp, days_of, render, tz_of
from crm.sportello.pages import ente_id_of
from crm.sportello.reports import files_of, store_of
from crm.sportello.session import Citizen, acting_as, citizen_page


@bp.get("/area-personale")
@citizen_page(signed_in=True)
async def overview(request: Request, citizen: Citizen) -> HTTPResponse:
    ente_id = await ente_id_of(request)
    async with acting_as(request, citizen, citizen.principal.ente_id) as cx:
        s = cx.session
        data = await doors.overview(cx)
        services = {sv.id: sv for sv in (await s.scalars(select(Service).where(Service.ente_id == ente_id))).all()}
        types = {t.id: t for t in (await s.scalars(select(InstanceType).where(InstanceType.ente_id == ente_id))).all()}
        drafts = await service.drafts_of(s, ente_id=ente_id, contact_id=citizen.contact.id)
        candidates = await citizens.merge_candidates(s, citizen.contact)
    now = utcnow()
    return render(
        request,
        "area.html",
        services=services,
        types=types,
        drafts=drafts,
        candidates=candidates,
        upcoming=[b for b in data["bookings"] if b.status == "confirmed" and b.end > now],
        past=[b for b in data["bookings"] if not (b.status == "confirmed" and b.end > now)],
        notice=request.args.get("avviso"),
        **data,
    )


@bp.get("/area-personale/prenotazioni/<booking_id:int>")
@citizen_page(signed_in=True)
async def booking_detail(request: Request, citizen: Citizen, booking_id: int) -> HTTPResponse:
    await ente_id_of(request)
    tz = tz_of(request)
    async with acting_as(request, citizen, citizen.principal.ente_id) as cx:
        s = cx.session
        b = await doors.booking(cx, booking_id)
        svc = await s.get(Service, b.service_id)
        place = await s.get(Location, b.location_id) if b.location_id else None
        assert svc is not None
        deadline = bookings.cancel_deadline(b, svc)
        can_change = b.status == "confirmed" and utcnow() <= deadline
        slots = []
        if can_change:
            today = utcnow().astimezone(tz).date()
            slots = await bookings.availability(
                s, ente_id=b.ente_id, service_id=svc.id, d_from=today, d_to=today + timedelta(days=21)
            )
    days, chosen = days_of(slots, tz, request.args.get("giorno"))
    return render(
        request,
        "area_booking.html",
        b=b,
        svc=svc,
        place=place,
        deadline=deadline,
        can_change=can_change,
        days=days,
        chosen=chosen,
        tz=tz,
        error=request.args.get("errore"),
        day_href=lambda d: f"/sportello/area-personale/prenotazioni/{b.id}?giorno={d.isoformat()}",
        moved=request.args.get("spostata") == "1",
    )


@bp.post("/area-personale/prenotazioni/<booking_id:int>/annulla")
@citizen_page(signed_in=True)
async def booking_cancel(request: Request, citizen: Citizen, booking_id: int) -> HTTPResponse:
    try:
        async with acting_as(request, citizen, citizen.principal.ente_id) as cx:
            await booking_commands.cancel(cx, booking_id=booking_id)
    except (Conflict, ValidationFailed) as exc:
        code = "stato" if exc.code == "illegal_transition" else "termine"
        return redirect(f"/sportello/area-personale/prenotazioni/{booking_id}?errore={code}", status=303)
    return redirect("/sportello/area-personale?avviso=annullata", status=303)


@bp.post("/area-personale/prenotazioni/<booking_id:int>/sposta")
@citizen_page(signed_in=True)
async def booking_move(request: Request, citizen: Citizen, booking_id: int) -> HTTPResponse:
    start = _start_of(str((request.form or {}).get("inizio") or ""))
    try:
        async with acting_as(request, citizen, citizen.principal.ente_id) as cx:
            new = await booking_commands.reschedule(cx, booking_id=booking_id, start=start)
            new_id = new.id
    except (Conflict, ValidationFailed) as exc:
        return redirect(f"/sportello/area-personale/prenotazioni/{booking_id}?errore={_code(exc)}", status=303)
    return redirect(f"/sportello/area-personale/prenotazioni/{new_id}?spostata=1", status=303)


def _code(exc: ApiError) -> str:
    """What went wrong, for the page's message: the time was taken meanwhile, the deadline has passed, the booking
    is no longer confirmed, or the new time breaks the service's rules."""
    return {"slot_taken": "occupato", "deadline_passed": "termine", "illegal_transition": "stato"}.get(
        exc.code, "orario"
    )


@bp.get("/area-personale/istanze/<instance_id:int>")
@citizen_page(signed_in=True)
async def instance_detail(request: Request, citizen: Citizen, instance_id: int) -> HTTPResponse:
    await ente_id_of(request)
    async with acting_as(request, citizen, citizen.principal.ente_id) as cx:
        s = cx.session
        inst, events, files = await doors.instance(cx, instance_id)
        t = await s.get(InstanceType, inst.type_id)
    taken = next((e.at for e in events if e.to_status == "in_charge"), None)
    request_note = next((e.note for e in reversed(events) if e.to_status == "integration_requested"), "")
    return render(
        request,
        "area_instance.html",
        inst=inst,
        t=t,
        events=events,
        files=files,
        taken=taken,
        request_note=request_note,
        sent=request.args.get("inviata") == "1",
        answered=request.args.get("integrata") == "1",
        rating_service="online-instance" if request.args.get("inviata") == "1" else "",
        rating_question="Quanto è stato facile usare questo servizio?" if request.args.get("inviata") == "1" else None,
    )


@bp.post("/area-personale/istanze/<instance_id:int>/integrazione")
@citizen_page(signed_in=True)
async def instance_integrate(request: Request, citizen: Citizen, instance_id: int) -> HTTPResponse:
    store = store_of(request)
    note = str((request.form or {}).get("note") or "")[:5000]
    try:
        async with acting_as(request, citizen, citizen.principal.ente_id) as cx:
            await instance_commands.integrate(
                cx, instance_id=instance_id, note=note, files=files_of(request, "file"), store=store
            )
    except Exception:
        store.discard()
        raise
    return redirect(f"/sportello/area-personale/istanze/{instance_id}?integrata=1", status=303)


@bp.get("/area-personale/istanze/<instance_id:int>/ricevuta.pdf")
@citizen_page(signed_in=True)
async def instance_receipt(request: Request, citizen: Citizen, instance_id: int) -> HTTPResponse:
    async with acting_as(request, citizen, citizen.principal.ente_id) as cx:
        s = cx.session
        inst, _, _ = await doors.instance(cx, instance_id)
        t = await s.get(InstanceType, inst.type_id)
        ente = await entes.get(s, inst.ente_id)
    pdf = receipt.render(
        ente_name=ente.name,
        title=t.title if t else "",
        inst=inst,
        contact_name=citizen.contact.display_name,
        tz=ente.timezone,
        schema=t.form_schema if t else None,
    )
    return raw(
        pdf,
        content_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="ricevuta-{inst.code}.pdf"'},
    )


@bp.get("/area-personale/richieste/<ticket_id:int>")
@citizen_page(signed_in=True)
async def ticket_detail(request: Request, citizen: Citizen, ticket_id: int) -> HTTPResponse:
    await ente_id_of(request)
    async with acting_as(request, citizen, citizen.principal.ente_id) as cx:
        s = cx.session
        t, events = await doors.ticket(cx, ticket_id)
        place, files = await service.report_details(s, ticket_id=t.id)
    return render(request, "area_ticket.html", t=t, events=events, place=place, files=files)


@bp.get("/area-personale/conversazioni/<conversation_id:int>")
@citizen_page(signed_in=True)
async def conversation_detail(request: Request, citizen: Citizen, conversation_id: int) -> HTTPResponse:
    await ente_id_of(request)
    async with acting_as(request, citizen, citizen.principal.ente_id) as cx:
        conv, msgs = await doors.conversation(cx, conversation_id)
    return render(request, "area_conversation.html", conv=conv, msgs=msgs)


@bp.post("/area-personale/unisci")
@citizen_page(signed_in=True)
async def merge(request: Request, citizen: Citizen) -> HTTPResponse:
    try:
        source_id = int(str((request.form or {}).get("source_id") or "0"))
    except ValueError:
        source_id = 0
    yes = (request.form or {}).get("scelta") == "si"
    async with acting_as(request, citizen, citizen.principal.ente_id) as cx:
        if yes:
            await citizen_commands.merge(cx, contact=citizen.contact, source_id=source_id)
        else:
            await citizen_commands.refuse_merge(cx, contact=citizen.contact, source_id=source_id)
    return redirect("/sportello/area-personale?avviso=" + ("uniti" if yes else "separati"), status=303)


__all__ = ["italian"]

"""Segnala disservizio (criterion C.SI.2.4, ``data-element="report-inefficiency"``): category, place (an address,
and a point on a Leaflet map when the citizen wants: the page works without it), subject, description, photos and
documents. The segnalazione is a request (``crm/tickets``, kind ``report``) the URP handles in the console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse, redirect
from sqlalchemy import select

from crm.citizens import commands as citizen_commands
from crm.citizens.config import get_citizen_settings
from crm.contacts.schemas import ContactIn
from crm.core.errors import NotFound
from crm.db import read_session
from crm.instances.service import FileStore
from crm.sportello import commands, service
from crm.sportello.kit import bp, render, sign, signed_ok
from crm.sportello.pages import ente_id_of
from crm.sportello.session import Citizen, acting_as, citizen_page
from crm.tickets.models import Ticket


def _map() -> dict[str, Any]:
    s = get_citizen_settings()
    lat, _, lon = s.map_center.partition(",")
    return {"tiles": s.map_tiles_url, "attribution": s.map_attribution, "lat": lat.strip(), "lon": lon.strip()}


def store_of(request: Request) -> FileStore:
    settings = request.app.ctx.settings
    return FileStore(root=Path(settings.var_dir) / "attachments", max_bytes=settings.attachments_max_bytes)


def files_of(request: Request, field: str = "files") -> list[tuple[str, str, bytes]]:
    if not request.files:
        return []
    return [(f.name or "allegato", f.type or "", f.body) for f in request.files.getlist(field, []) if f.body]


@bp.get("/segnala")
@citizen_page()
async def report_form(request: Request, citizen: Citizen | None) -> HTTPResponse:
    await ente_id_of(request)
    return render(
        request,
        "report.html",
        categories=service.REPORT_CATEGORIES,
        values={},
        errors={},
        map=_map(),
        rating_service="report-inefficiency",
    )


def _float(value: Any, lo: float, hi: float) -> float | None:
    try:
        f = float(str(value))
    except ValueError:
        return None
    return f if lo <= f <= hi else None


@bp.post("/segnala")
@citizen_page()
async def report_submit(request: Request, citizen: Citizen | None) -> HTTPResponse:
    ente_id = await ente_id_of(request)
    form = request.form or {}
    values = {
        k: str(form.get(k) or "").strip()
        for k in (
            "category",
            "address",
            "subject",
            "description",
            "first_name",
            "last_name",
            "email",
            "latitude",
            "longitude",
        )
    }
    errors: dict[str, str] = {}
    if values["category"] not in service.REPORT_CATEGORIES:
        errors["category"] = "Scelga una categoria."
    if not values["address"]:
        errors["address"] = "Indichi il luogo: un indirizzo o un punto di riferimento."
    if not values["subject"]:
        errors["subject"] = "Indichi l'oggetto della segnalazione."
    if not values["description"]:
        errors["description"] = "Descriva brevemente il disservizio."
    if citizen is None:
        for key, text in (
            ("first_name", "Indichi il nome."),
            ("last_name", "Indichi il cognome."),
            ("email", "Indichi un indirizzo e-mail per ricevere le risposte."),
        ):
            if not values[key]:
                errors[key] = text
        if not form.get("privacy"):
            errors["privacy"] = "Per proseguire occorre prendere visione dell'informativa privacy."
    files = files_of(request)
    store = store_of(request)
    errors.update(service.report_file_problems(files, store.max_bytes))
    lat, lon = _float(values["latitude"], -90, 90), _float(values["longitude"], -180, 180)
    contact_in = None
    if citizen is None and not errors:
        try:
            contact_in = ContactIn(
                first_name=values["first_name"][:100],
                last_name=values["last_name"][:100],
                emails=[values["email"]],
                consent_privacy=True,
                preferred_channel="email",
            )
        except ValueError:
            errors["email"] = "Indirizzo e-mail non valido."
    if errors:
        return render(
            request,
            "report.html",
            categories=service.REPORT_CATEGORIES,
            values=values,
            errors=errors,
            map=_map(),
            rating_service="report-inefficiency",
            status=422,
        )
    try:
        async with acting_as(request, citizen, ente_id) as cx:
            if citizen is None:
                assert contact_in is not None
                await citizen_commands.register_visitor(cx, data=contact_in)
            category = service.REPORT_CATEGORIES[values["category"]]
            t = await commands.file_report(
                cx,
                subject=values["subject"][:200],
                description=f"{values['description'][:9000]}\n\nCategoria: {category}\nLuogo: {values['address'][:300]}"
                + (f" ({lat:.6f}, {lon:.6f})" if lat is not None and lon is not None else ""),
                category=values["category"],
                address=values["address"],
                latitude=lat,
                longitude=lon,
                files=files,
                store=store,
            )
            ticket_id = t.id
    except Exception:
        store.discard()  # no file is left behind for a segnalazione that was never written
        raise
    return redirect(f"/sportello/segnala/fatto/{ticket_id}?t={sign(request, f'ticket:{ticket_id}')}", status=303)


@bp.get("/segnala/fatto/<ticket_id:int>")
@citizen_page()
async def report_done(request: Request, citizen: Citizen | None, ticket_id: int) -> HTTPResponse:
    ente_id = await ente_id_of(request)
    if not signed_ok(request, f"ticket:{ticket_id}", request.args.get("t", "")):
        raise NotFound("segnalazione non trovata")
    async with read_session(request) as s:
        t = await s.scalar(select(Ticket).where(Ticket.ente_id == ente_id, Ticket.id == ticket_id))
        if t is None:
            raise NotFound("segnalazione non trovata")
        place, files = await service.report_details(s, ticket_id=t.id)
    return render(
        request,
        "report_done.html",
        t=t,
        place=place,
        files=files,
        rating_service="report-inefficiency",
        rating_question="Quanto è stato facile usare questo servizio?",
    )

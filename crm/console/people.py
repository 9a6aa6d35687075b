"""Contact 360 additions: edit details and consents, merge a duplicate (chosen by search, confirmed on a page that
shows both), the GDPR export (JSON and PDF) and erasure (confirmed by typing the name or CANCELLA). Reads and changes
go through ``crm.contacts`` and are audited."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sanic import Request
from sanic.response import HTTPResponse, redirect
from sanic.response import json as json_response

from crm.bookings import service as bookings
from crm.console.forms import contact_errors
from crm.console.kit import (
    ADMINS,
    BOOKING_STATUS_LABEL,
    BOOKING_VIEWERS,
    CHANNEL_LABEL,
    CONTACT_MERGERS,
    GDPR_EXPORTERS,
    INSTANCE_HANDLERS,
    INSTANCE_STATUS_LABEL,
    MODE_LABEL,
    STATUS_LABEL,
    bp,
    ente_tz,
    render,
)
from crm.console.lookups import CONFLICT_OUTCOME, contact_conflicts, linked_counts
from crm.console.session import console_page, context
from crm.console.slots import as_int
from crm.contacts import commands as contact_commands
from crm.contacts import gdpr, gdpr_pdf
from crm.contacts import policies as contact_policies
from crm.contacts import service as contacts
from crm.contacts.models import Contact
from crm.contacts.schemas import ContactPatch, normalise_phone
from crm.conversations import service as conversations
from crm.core.auth import Principal
from crm.core.commands import begin
from crm.core.errors import ApiError, Conflict, NotFound
from crm.core.http import download
from crm.db import db_session
from crm.entes import service as entes
from crm.instances import service as instances
from crm.tickets import service as tickets

RESOLVERS = contact_policies.RESOLVE.staff
EDIT_FIELDS = ("first_name", "last_name", "fiscal_code", "phones", "emails", "preferred_channel", "notes")
ERASE_WORD = "CANCELLA"


def _lines(raw: str) -> list[str]:
    return [x.strip() for x in re.split(r"[\n,;]", raw or "") if x.strip()]


def _values(c: Contact) -> dict[str, Any]:
    return {
        "first_name": c.first_name,
        "last_name": c.last_name,
        "fiscal_code": c.fiscal_code or "",
        "phones": "\n".join(p.e164 for p in c.phones),
        "emails": "\n".join(e.email for e in c.emails),
        "preferred_channel": c.preferred_channel or "",
        "notes": c.notes,
        "consent_privacy": c.consent_privacy,
        "consent_notifications": c.consent_notifications,
    }


def _editable(c: Contact) -> str:
    """Why the contact cannot be changed any more (empty when it can)."""
    if c.anonymised_at is not None:
        return "I dati di questo contatto sono stati cancellati su richiesta dell'interessato."
    if c.merged_into_id is not None:
        return "Questo contatto è stato unito a un altro: lavori sul contatto che lo ha assorbito."
    return ""


def _bad_entries(phones: list[str], emails: list[str]) -> dict[str, str]:
    """Name the line that is wrong, rather than just saying the list is."""
    errors: dict[str, str] = {}
    for raw in phones:
        try:
            normalise_phone(raw)
        except ValueError:
            errors["phones"] = f"Numero di telefono non valido: «{raw}»."
            break
    for raw in emails:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", raw):
            errors["emails"] = f"Indirizzo e-mail non valido: «{raw}»."
            break
    return errors


async def _contact_or_gone(s: Any, p: Any, contact_id: int) -> Contact:
    return await contacts.get(s, ente_id=p.ente_id, contact_id=contact_id)


# --- edit -------------------------------------------------------------------------------------------------------------
@bp.get("/contacts/<contact_id:int>/edit")
@console_page()
async def contact_edit_form(request: Request, p: Principal, contact_id: int) -> HTTPResponse:
    async with begin(request, screen="contact_edit") as cx:
        c = await contact_commands.read(cx, contact_id=contact_id)
    return render(
        "contact_edit.html", **context(request, p, c=c, values=_values(c), errors={}, error=None, locked=_editable(c))
    )


@bp.post("/contacts/<contact_id:int>/edit")
@console_page()
async def contact_edit(request: Request, p: Principal, contact_id: int) -> HTTPResponse:
    form = request.form or {}
    values: dict[str, Any] = {k: (form.get(k) or "").strip() for k in EDIT_FIELDS}
    values["consent_privacy"] = form.get("consent_privacy") == "1"
    values["consent_notifications"] = form.get("consent_notifications") == "1"
    phones, emails = _lines(values["phones"]), _lines(values["emails"])
    errors = _bad_entries(phones, emails)
    if values["preferred_channel"] and values["preferred_channel"] not in CHANNEL_LABEL:
        errors["preferred_channel"] = "Scelga un canale dall'elenco."
    data = None
    if not errors:
        try:
            data = ContactPatch(
                first_name=values["first_name"],
                last_name=values["last_name"],
                fiscal_code=values["fiscal_code"] or None,
                phones=phones,
                emails=emails,
                preferred_channel=values["preferred_channel"] or None,  # type: ignore[arg-type]
                consent_privacy=values["consent_privacy"],
                consent_notifications=values["consent_notifications"],
                notes=values["notes"],
            )
        except ValidationError as exc:
            errors = {{"phone": "phones", "email": "emails"}.get(k, k): v for k, v in contact_errors(exc).items()}
            for err in exc.errors():
                if err["loc"] and err["loc"][0] == "notes":
                    errors["notes"] = "Al massimo 2000 caratteri."
    error, status = "Le modifiche non sono state salvate: corregga i campi indicati.", 422
    async with db_session(request) as s:
        locked = _editable(await _contact_or_gone(s, p, contact_id))
    if locked:
        data, error, status = None, locked, 409
    if data is not None:
        try:
            async with begin(request, screen="contact") as cx:
                _, changed = await contact_commands.update(cx, contact_id=contact_id, data=data)
        except Conflict as exc:
            status = 409
            if "fiscal_code" in exc.fields:
                errors["fiscal_code"] = (
                    "Questo codice fiscale è già di un altro contatto: se è la stessa persona, unisca i due contatti."
                )
            else:
                error = "I dati di questo contatto sono stati cancellati e non possono essere modificati."
        else:
            return redirect(
                f"/console/contacts/{contact_id}?esito=" + ("salvato" if changed else "invariato"), status=303
            )
    async with db_session(request) as s:
        c = await _contact_or_gone(s, p, contact_id)
    return render(
        "contact_edit.html",
        status=status,
        **context(request, p, c=c, values=values, errors=errors, error=error, locked=_editable(c)),
    )


# --- merge ------------------------------------------------------------------------------------------------------------
@bp.get("/contacts/<contact_id:int>/merge")
@console_page(*CONTACT_MERGERS)
async def contact_merge_search(request: Request, p: Principal, contact_id: int) -> HTTPResponse:
    q = request.args.get("q", "").strip()[:200]
    async with begin(request, screen="merge") as cx:
        s = cx.session
        c = await _contact_or_gone(s, p, contact_id)
        rows: list[Contact] = []
        if q:
            rows = [
                x
                for x in (await s.scalars(contacts.search_stmt(ente_id=p.ente_id, q=q).limit(30))).all()
                if x.id != c.id
            ]
            await cx.read("search", "contact", None, details={"results": [x.id for x in rows]})
    return render("contact_merge.html", **context(request, p, c=c, q=q, rows=rows, locked=_editable(c)))


async def _side(s: Any, p: Any, c: Contact) -> dict[str, Any]:
    return {"c": c, "counts": await linked_counts(s, ente_id=p.ente_id, contact_id=c.id)}


@bp.get("/contacts/<contact_id:int>/merge/<other_id:int>")
@console_page(*CONTACT_MERGERS)
async def contact_merge_confirm(request: Request, p: Principal, contact_id: int, other_id: int) -> HTTPResponse:
    if other_id == contact_id:
        raise NotFound("same contact")
    async with begin(request, screen="merge") as cx:
        s = cx.session
        keep = await _side(s, p, await contact_commands.read(cx, contact_id=contact_id))
        fold = await _side(s, p, await contact_commands.read(cx, contact_id=other_id))
        tz = await ente_tz(s, p.ente_id)
    problem = _editable(keep["c"]) or _editable(fold["c"])
    return render("contact_merge_confirm.html", **context(request, p, keep=keep, fold=fold, tz=tz, problem=problem))


@bp.post("/contacts/<contact_id:int>/merge")
@console_page(*CONTACT_MERGERS)
async def contact_merge(request: Request, p: Principal, contact_id: int) -> HTTPResponse:
    form = request.form or {}
    source_id = as_int(form.get("source_id"))
    if source_id is None:
        raise NotFound("contact not found")
    async with db_session(request) as s:
        problem = _editable(await _contact_or_gone(s, p, contact_id)) or _editable(
            await _contact_or_gone(s, p, source_id)
        )
    if problem:
        return render("error.html", status=409, **context(request, p, title="Unione non eseguita", message=problem))
    try:
        async with begin(request, screen="merge") as cx:
            await contact_commands.merge(cx, target_id=contact_id, source_id=source_id)
    except ApiError as exc:
        if exc.status == 404:
            raise
        text = (
            "Uno dei due contatti è già stato unito a un altro: aggiorni la pagina."
            if exc.status == 409
            else "Non si può unire un contatto a sé stesso."
        )
        return render("error.html", status=exc.status, **context(request, p, title="Unione non eseguita", message=text))
    return redirect(f"/console/contacts/{contact_id}?esito=unito", status=303)


# --- GDPR -------------------------------------------------------------------------------------------------------------
@bp.get("/contacts/<contact_id:int>/gdpr")
@console_page(*GDPR_EXPORTERS)
async def contact_gdpr(request: Request, p: Principal, contact_id: int) -> HTTPResponse:
    async with begin(request, screen="gdpr") as cx:
        c = await contact_commands.read(cx, contact_id=contact_id)
        counts = await linked_counts(cx.session, ente_id=p.ente_id, contact_id=c.id)
        tz = await ente_tz(cx.session, p.ente_id)
    return render("contact_gdpr.html", **context(request, p, c=c, counts=counts, tz=tz, can_erase=p.role in ADMINS))


async def _export(request: Request, p: Principal, contact_id: int, fmt: str) -> tuple[dict[str, Any], Any]:
    async with begin(request, screen="gdpr") as cx:
        data = await contact_commands.export(cx, contact_id=contact_id, fmt=fmt)
        ente = await entes.get(cx.session, p.ente_id)
    return data, ente


@bp.get("/contacts/<contact_id:int>/export.json")
@console_page(*GDPR_EXPORTERS)
async def contact_export_json(request: Request, p: Principal, contact_id: int) -> HTTPResponse:
    data, _ = await _export(request, p, contact_id, "json")
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str).encode("utf-8")
    return download(body, "application/json; charset=utf-8", f"dati-contatto-{contact_id}.json")


@bp.get("/contacts/<contact_id:int>/export.zip")
@console_page(*GDPR_EXPORTERS)
async def contact_export_zip(request: Request, p: Principal, contact_id: int) -> HTTPResponse:
    """The copy for portability: the JSON (dati.json) and the files it lists by reference (allegati/...)."""
    members: dict[str, Path] = {}
    async with begin(request, screen="gdpr") as cx:
        data = await contact_commands.export(cx, contact_id=contact_id, fmt="zip", members=members)
    body = await asyncio.to_thread(gdpr.archive, data, members)
    return download(body, "application/zip", f"dati-contatto-{contact_id}.zip")


@bp.get("/contacts/<contact_id:int>/export.pdf")
@console_page(*GDPR_EXPORTERS)
async def contact_export_pdf(request: Request, p: Principal, contact_id: int) -> HTTPResponse:
    data, ente = await _export(request, p, contact_id, "pdf")
    pdf = await asyncio.to_thread(gdpr_pdf.render, ente_name=ente.name, data=data, tz=ente.timezone)
    return download(pdf, "application/pdf", f"dati-contatto-{contact_id}.pdf")


def _confirmed(c: Contact, typed: str) -> bool:
    said = " ".join(typed.split()).casefold()
    name = " ".join(f"{c.first_name} {c.last_name}".split()).casefold()
    return said == ERASE_WORD.casefold() or (bool(name) and said == name)


@bp.get("/contacts/<contact_id:int>/erase")
@console_page(*ADMINS)
async def contact_erase_form(request: Request, p: Principal, contact_id: int) -> HTTPResponse:
    async with begin(request, screen="erase") as cx:
        c = await contact_commands.read(cx, contact_id=contact_id)
        counts = await linked_counts(cx.session, ente_id=p.ente_id, contact_id=c.id)
    return render("contact_erase.html", **context(request, p, c=c, counts=counts, error="", typed=""))


@bp.post("/contacts/<contact_id:int>/erase")
@console_page(*ADMINS)
async def contact_erase(request: Request, p: Principal, contact_id: int) -> HTTPResponse:
    form = request.form or {}
    typed = (form.get("conferma") or "").strip()[:300]
    async with begin(request, screen="erase") as cx:
        c = await _contact_or_gone(cx.session, p, contact_id)
        if c.anonymised_at is None and _confirmed(c, typed):
            await contact_commands.erase(cx, contact_id=c.id)
            erased = True
        else:
            erased = False
            counts = await linked_counts(cx.session, ente_id=p.ente_id, contact_id=c.id)
    if erased:
        return redirect(f"/console/contacts/{contact_id}?esito=cancellato", status=303)
    error = (
        "I dati di questo contatto sono già stati cancellati."
        if c.anonymised_at
        else f"Per confermare scriva il nome e cognome del contatto oppure la parola {ERASE_WORD}."
    )
    return render(
        "contact_erase.html",
        status=409 if c.anonymised_at else 422,
        **context(request, p, c=c, counts=counts, error=error, typed=typed),
    )


@bp.get("/contacts")
@console_page()
async def contact_search(request: Request, p: Principal) -> HTTPResponse:
    q = request.args.get("q", "")
    async with begin(request) as cx:
        rows = (await cx.session.scalars(contacts.search_stmt(ente_id=p.ente_id, q=q).limit(50))).all() if q else []
        if q:
            await cx.read("search", "contact", None, details={"results": [c.id for c in rows]})
    return render("contacts.html", **context(request, p, q=q, rows=rows))


@bp.get("/contacts/<contact_id:int>")
@console_page()
async def contact_360(request: Request, p: Principal, contact_id: int) -> HTTPResponse:
    timeline: list[dict[str, Any]] = []
    async with begin(request) as cx:
        s = cx.session
        c = await contact_commands.read(cx, contact_id=contact_id)
        tz = await ente_tz(s, p.ente_id)
        conflicts = await contact_conflicts(s, ente_id=p.ente_id, contact=c)
        for conv in (await s.scalars(conversations.list_stmt(ente_id=p.ente_id, contact_id=c.id))).all():
            timeline.append(
                {
                    "at": conv.created_at,
                    "kind": "Conversazione",
                    "text": CHANNEL_LABEL.get(conv.channel),
                    "state": MODE_LABEL.get(conv.mode),
                    "href": f"/console/conversations/{conv.id}",
                }
            )
        for t in (await s.scalars(tickets.list_stmt(ente_id=p.ente_id, filters={"contact_id": c.id}))).all():
            timeline.append(
                {
                    "at": t.created_at,
                    "kind": "Richiesta " + t.code,
                    "text": t.subject,
                    "state": STATUS_LABEL.get(t.status),
                    "href": f"/console/requests/{t.id}",
                }
            )
        for b in (
            await s.scalars(
                bookings.list_stmt(
                    ente_id=p.ente_id, contact_id=c.id, service_id=None, status=None, d_from=None, d_to=None
                )
            )
        ).all():
            timeline.append(
                {
                    "at": b.created_at,
                    "kind": "Prenotazione " + b.code,
                    "text": b.start.astimezone(tz).strftime("%d/%m/%Y %H:%M"),
                    "state": BOOKING_STATUS_LABEL.get(b.status),
                    "href": f"/console/bookings?giorno={b.start.astimezone(tz):%Y-%m-%d}"
                    if p.role in BOOKING_VIEWERS
                    else None,
                }
            )
        for i in (
            await s.scalars(instances.list_stmt(ente_id=p.ente_id, contact_id=c.id, status=None, type_id=None))
        ).all():
            timeline.append(
                {
                    "at": i.created_at,
                    "kind": "Istanza " + i.code,
                    "text": i.protocol_number or "",
                    "state": INSTANCE_STATUS_LABEL.get(i.status),
                    "href": f"/console/instances/{i.id}" if p.role in INSTANCE_HANDLERS else None,
                }
            )
    timeline.sort(key=lambda x: x["at"], reverse=True)
    return render(
        "contact.html",
        **context(
            request,
            p,
            c=c,
            timeline=timeline,
            tz=tz,
            conflicts=conflicts,
            ok=CONTACT_OUTCOME.get(request.args.get("esito", ""), ""),
        ),
    )


CONTACT_OUTCOME = {
    "salvato": "Dati del contatto salvati.",
    "invariato": "Nessuna modifica da salvare.",
    "unito": "Contatti uniti: le pratiche del doppione sono ora su questo contatto.",
    "cancellato": "Dati personali cancellati. L'operazione è stata registrata.",
    **CONFLICT_OUTCOME,
}


# --- conflicts between the contact's details and what the citizen gave the assistant ---------------------------------
def _back(raw: str | None, contact_id: int) -> str:
    """Where to return after resolving: a console page (the conversation it was resolved from), else the contact."""
    back = raw or ""
    if not back.startswith("/console/") or "//" in back or "\\" in back:
        back = f"/console/contacts/{contact_id}"
    return back.split("?")[0]


@bp.post("/contacts/<contact_id:int>/conflicts/<conflict_id:int>")
@console_page(*RESOLVERS)
async def contact_conflict(request: Request, p: Principal, contact_id: int, conflict_id: int) -> HTTPResponse:
    form = request.form or {}
    choice = form.get("scelta")
    back = _back(form.get("back"), contact_id)
    if choice not in ("usa", "mantieni"):
        return redirect(back, status=303)
    try:
        async with begin(request, screen="contact") as cx:
            await contact_commands.resolve_conflict(
                cx, contact_id=contact_id, conflict_id=conflict_id, use=choice == "usa"
            )
    except Conflict as exc:
        esito = "cf_altrui" if "fiscal_code" in exc.fields else "risolto"
    else:
        esito = "usato" if choice == "usa" else "mantenuto"
    if request.headers.get("X-Requested-With") == "workspace":  # the context panel fetches itself again
        return json_response({"esito": esito})
    return redirect(f"{back}?esito={esito}", status=303)

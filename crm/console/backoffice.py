"""Istanze back-office: the office's queue (per office, type and status) with the statutory deadline in view, the
istanza's page (data, attachments, history) and the decisions, all through ``instances.service.transition``, which
also notifies the citizen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse, redirect

from crm.console.forms import service_error
from crm.console.kit import INSTANCE_HANDLERS, INSTANCE_STATUS_LABEL, bp, ente_tz, render
from crm.console.lookups import attachments_of, contacts_by_id, instance_types, operator_names
from crm.console.session import console_page, context
from crm.console.slots import as_int
from crm.core.auth import Principal
from crm.core.commands import begin
from crm.core.errors import ApiError
from crm.db import db_session, utcnow
from crm.instances import commands as instance_commands
from crm.instances import receipt
from crm.instances import service as instances
from crm.instances.models import STATUSES, Instance
from crm.offices import service as offices

OPEN = ("submitted", "protocolled", "in_charge", "integration_requested", "integrated")
# decisions the office takes: to-status -> (button, note label, note required)
ACTIONS: dict[str, tuple[str, str, bool]] = {
    "in_charge": ("Prendi in carico", "Nota (facoltativa)", False),
    "integration_requested": (
        "Richiedi integrazione",
        "Che cosa deve integrare il cittadino (gli viene inviato)",
        True,
    ),
    "integrated": ("Registra l'integrazione ricevuta", "Nota (facoltativa)", False),
    "accepted": ("Accogli", "Nota per il cittadino (facoltativa)", False),
    "rejected": ("Respingi", "Motivazione (inviata al cittadino)", True),
}
OUTCOME = {
    "in_charge": "Istanza presa in carico: il cittadino riceve l'avviso.",
    "integration_requested": "Richiesta di integrazione inviata al cittadino: il termine è sospeso.",
    "integrated": "Integrazione registrata: il termine riprende a decorrere.",
    "accepted": "Istanza accolta: il cittadino riceve l'avviso.",
    "rejected": "Istanza respinta: il cittadino riceve la motivazione.",
}
DEADLINE_FILTERS = {"scaduta": ("over",), "vicina": ("over", "near"), "sospesa": ("paused",)}


def _giorni(n: int) -> str:
    return "1 giorno" if n == 1 else f"{n} giorni"


def deadline_info(inst: Instance, deadline_days: int, now: datetime, tz: Any) -> dict[str, str]:
    """How the statutory clock stands, counted in calendar days of the ente: over, near, paused, ok, or none
    (decided, or not yet protocolled)."""
    if inst.status in instances.FINAL:
        return {"level": "none", "label": "Procedimento concluso", "date": _fmt(inst.deadline_at, tz)}
    if inst.deadline_at is None:
        return {"level": "none", "label": "In attesa del protocollo", "date": "—"}
    due = inst.deadline_at.astimezone(tz).date()
    if inst.paused_at is not None:
        left = max(0, (due - inst.paused_at.astimezone(tz).date()).days)
        return {
            "level": "paused",
            "date": _fmt(inst.deadline_at, tz),
            "label": f"Termine sospeso dal {inst.paused_at.astimezone(tz):%d/%m/%Y} (restano {_giorni(left)})",
        }
    left = (due - now.astimezone(tz).date()).days
    if now > inst.deadline_at:
        return {
            "level": "over",
            "date": _fmt(inst.deadline_at, tz),
            "label": "Scaduto oggi" if left >= 0 else f"Scaduto da {_giorni(-left)}",
        }
    if left <= max(2, min(7, deadline_days // 4)):
        return {
            "level": "near",
            "date": _fmt(inst.deadline_at, tz),
            "label": "In scadenza oggi" if left == 0 else f"In scadenza: {_giorni(left)}",
        }
    return {"level": "ok", "date": _fmt(inst.deadline_at, tz), "label": f"mancano {_giorni(left)}"}


def _fmt(value: datetime | None, tz: Any) -> str:
    return value.astimezone(tz).strftime("%d/%m/%Y") if value else "—"


@bp.get("/instances")
@console_page(*INSTANCE_HANDLERS)
async def instances_queue(request: Request, p: Principal) -> HTTPResponse:
    stato = request.args.get("stato", "aperte")
    status = None if stato == "tutte" else stato if stato in STATUSES else ",".join(OPEN)
    stato = stato if stato == "tutte" or stato in STATUSES else "aperte"
    type_id, office_id = as_int(request.args.get("tipo")), as_int(request.args.get("ufficio"))
    scadenza = request.args.get("scadenza", "")
    now = utcnow()
    async with begin(request, screen="instances") as cx:
        s = cx.session
        tz = await ente_tz(s, p.ente_id)
        types = await instance_types(s, ente_id=p.ente_id)
        office_list = list(await offices.list_offices(s, ente_id=p.ente_id))
        stmt = instances.list_stmt(ente_id=p.ente_id, contact_id=None, status=status, type_id=type_id)
        if office_id is not None:
            stmt = stmt.where(Instance.type_id.in_([t.id for t in types.values() if t.office_id == office_id] or [0]))
        rows = list(
            (
                await s.scalars(stmt.order_by(Instance.deadline_at.asc().nulls_last(), Instance.created_at).limit(500))
            ).all()
        )
        people = await contacts_by_id(s, ente_id=p.ente_id, ids=[i.contact_id for i in rows])
        if rows:
            await cx.read("list", "instance", None, details={"results": [i.id for i in rows]})
    items = []
    for i in rows:
        t = types.get(i.type_id)
        dl = deadline_info(i, t.deadline_days if t else 30, now, tz)
        if scadenza in DEADLINE_FILTERS and dl["level"] not in DEADLINE_FILTERS[scadenza]:
            continue
        c = people.get(i.contact_id)
        items.append(
            {
                "id": i.id,
                "code": i.code,
                "type": t.title if t else "—",
                "status": i.status,
                "citizen": c.display_name if c else f"Contatto #{i.contact_id}",
                "protocol": i.protocol_number or "—",
                "created": i.created_at,
                "deadline": dl,
                "channel": i.channel,
            }
        )
    office_names = {o.id: o.name for o in office_list}
    type_options = sorted(
        ((t.id, t.title + ("" if t.active else " (non più attivo)")) for t in types.values()), key=lambda x: x[1]
    )
    return render(
        "instances.html",
        **context(
            request,
            p,
            items=items,
            tz=tz,
            stato=stato,
            type_id=type_id,
            office_id=office_id,
            scadenza=scadenza,
            type_options=type_options,
            office_options=sorted(office_names.items(), key=lambda x: x[1]),
            status_options=[("aperte", "Aperte"), ("tutte", "Tutte")]
            + [(k, v) for k, v in INSTANCE_STATUS_LABEL.items()],
        ),
    )


async def _detail_ctx(s: Any, p: Any, instance_id: int) -> dict[str, Any]:
    inst = await instances.get(s, ente_id=p.ente_id, instance_id=instance_id)
    tz = await ente_tz(s, p.ente_id)
    types = await instance_types(s, ente_id=p.ente_id)
    t = types.get(inst.type_id)
    people = await contacts_by_id(s, ente_id=p.ente_id, ids=[inst.contact_id])
    names = await operator_names(s, ente_id=p.ente_id)
    props = ((t.form_schema if t else {}) or {}).get("properties") or {}
    data = []
    for key, value in (inst.data or {}).items():
        prop = props.get(key) if isinstance(props.get(key), dict) else {}
        label = str(prop.get("title") or key.replace("_", " ").capitalize())
        data.append((label, receipt.answer(value, prop)))  # as on the receipt: dates dd/mm/yyyy, sì/no, lists
    allowed = instances.TRANSITIONS.get(inst.status, set())
    return {
        "inst": inst,
        "t": t,
        "c": people.get(inst.contact_id),
        "tz": tz,
        "data": data,
        "events": list(await instances.events(s, inst)),
        "attachments": await attachments_of(s, ente_id=p.ente_id, instance_id=inst.id),
        "deadline": deadline_info(inst, t.deadline_days if t else 30, utcnow(), tz),
        "actions": [(to, *ACTIONS[to]) for to in ACTIONS if to in allowed],
        "by": f"Inserito per conto del cittadino da {names.get(inst.created_by_operator_id or 0, 'operatore')}"
        if inst.on_behalf
        else "",
    }


@bp.get("/instances/<instance_id:int>")
@console_page(*INSTANCE_HANDLERS)
async def instance_page(request: Request, p: Principal, instance_id: int) -> HTTPResponse:
    async with begin(request, screen="instances") as cx:
        await instance_commands.read(cx, instance_id=instance_id)
        ctx = await _detail_ctx(cx.session, p, instance_id)
    return render(
        "instance.html",
        **context(
            request, p, **ctx, ok=OUTCOME.get(request.args.get("esito", ""), ""), error=None, note_errors={}, notes={}
        ),
    )


@bp.post("/instances/<instance_id:int>/transition")
@console_page(*INSTANCE_HANDLERS)
async def instance_transition(request: Request, p: Principal, instance_id: int) -> HTTPResponse:
    form = request.form or {}
    to = (form.get("to") or "").strip()
    note = (form.get("note") or "").strip()[:5000]
    note_errors: dict[str, str] = {}
    if to not in ACTIONS:
        error, status = "Operazione sconosciuta.", 422
    else:
        try:
            async with begin(request, screen="instances") as cx:
                await instance_commands.transition(cx, instance_id=instance_id, to=to, note=note)
        except ApiError as exc:
            if exc.status == 404:
                raise
            status = exc.status
            if exc.code == "illegal_transition":
                error = (
                    "Operazione non consentita: dallo stato attuale l'istanza non può diventare "
                    f"«{INSTANCE_STATUS_LABEL.get(to, to)}»."
                )
            elif "note" in exc.fields:
                error = "La nota per il cittadino è obbligatoria per questa operazione."
                note_errors[to] = "Campo obbligatorio: il testo viene inviato al cittadino."
            else:
                error = service_error(exc)
        else:
            return redirect(f"/console/instances/{instance_id}?esito={to}", status=303)
    async with db_session(request) as s:
        ctx = await _detail_ctx(s, p, instance_id)
    return render(
        "instance.html",
        status=status,
        **context(request, p, **ctx, ok="", error=error, note_errors=note_errors, notes={to: note}),
    )

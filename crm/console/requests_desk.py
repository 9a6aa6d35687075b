"""Requests (tickets) screen: the list and the board by status with filters and the take-in-charge SLA countdown, and
the request's page (citizen, history, internal notes) with assignment, priority, status and notes, all through
``tickets.service``."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sanic import Request
from sanic.response import HTTPResponse, raw, redirect

from crm.console.kit import (
    KIND_LABEL,
    PRIORITY_LABEL,
    REQUEST_HANDLERS,
    REQUEST_VIEWERS,
    STATUS_LABEL,
    bp,
    ente_tz,
    file_error,
    render,
    uploads_of,
)
from crm.console.lookups import contacts_by_id, operator_names
from crm.console.session import console_page, context
from crm.conversations import files as chat_files
from crm.core import filetypes
from crm.core.auth import Principal
from crm.core.commands import begin
from crm.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crm.db import utcnow
from crm.offices import service as offices
from crm.operators import service as operators
from crm.tickets import commands as ticket_commands
from crm.tickets import policies as ticket_policies
from crm.tickets import service as tickets
from crm.tickets.models import OPEN_STATUSES, PRIORITIES, STATUSES, Ticket

ACTIONS = ("take", "assign", "priority", "status", "note")
OUTCOME = {
    "take": "Richiesta presa in carico.",
    "assign": "Assegnazione aggiornata.",
    "priority": "Priorità aggiornata: la scadenza SLA è stata ricalcolata.",
    "status": "Stato aggiornato.",
    "note": "Nota interna aggiunta.",
    "files": "File allegati alla richiesta.",
}
ACTION_LABEL = {
    "created": "Creata",
    "status": "Cambio di stato",
    "assigned": "Assegnazione",
    "priority": "Cambio di priorità",
    "note": "Nota interna",
}
PRIORITY_ORDER = {"alta": 0, "media": 1, "bassa": 2}


def _span(seconds: int) -> str:
    """A duration in plain Italian: "3 h 20 min", "2 g 4 h", "15 min"."""
    minutes = max(0, seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} g {hours} h" if hours else f"{days} g"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def sla_info(t: Ticket, now: datetime) -> dict[str, Any]:
    """Where the take-in-charge SLA stands: level ok | near | over | met | late | none, and a label in Italian."""
    if t.taken_at is not None:
        if t.taken_at <= t.due_at:
            return {"level": "met", "label": "presa in carico entro i termini", "breached": False}
        return {
            "level": "late",
            "label": "presa in carico in ritardo di " + _span(int((t.taken_at - t.due_at).total_seconds())),
            "breached": True,
        }
    if t.status not in OPEN_STATUSES:
        return {"level": "none", "label": "chiusa senza presa in carico", "breached": now > t.due_at}
    left = int((t.due_at - now).total_seconds())
    if left < 0:
        return {"level": "over", "label": "scaduta da " + _span(-left), "breached": True}
    return {"level": "near" if left < 2 * 3600 else "ok", "label": "mancano " + _span(left), "breached": False}


def _filters(request: Request, operator_id: int | None) -> tuple[dict[str, str], dict[str, Any]]:
    """The GET form's values (as typed, for the form) and the service's filters."""
    a = request.args
    form = {
        "stato": a.get("stato", "aperte"),
        "priorita": a.get("priorita", ""),
        "tipo": a.get("tipo", ""),
        "argomento": a.get("argomento", ""),
        "assegnata": a.get("assegnata", ""),
        "scadute": "1" if a.get("scadute") == "1" else "",
        "q": (a.get("q") or "").strip()[:100],
    }
    if form["stato"] not in ("aperte", "tutte", *STATUSES):
        form["stato"] = "aperte"
    for key, allowed in (("priorita", PRIORITIES), ("tipo", tuple(KIND_LABEL)), ("assegnata", ("me", "nessuno"))):
        if form[key] not in allowed:
            form[key] = ""
    filters: dict[str, Any] = {
        "status": form["stato"] if form["stato"] in STATUSES else None,
        "open": form["stato"] == "aperte",
        "priority": form["priorita"] or None,
        "kind": form["tipo"] or None,
        "assignee_id": operator_id if form["assegnata"] == "me" else None,
        "unassigned": form["assegnata"] == "nessuno",
        "breached": bool(form["scadute"]),
        "q": form["q"] or None,
    }
    if form["assegnata"] == "me" and operator_id is None:
        filters["unassigned"] = True  # no operator behind the session: nothing is "mine"
    return form, filters


@bp.get("/requests")
@console_page(*REQUEST_VIEWERS)
async def requests_list(request: Request, p: Principal) -> HTTPResponse:
    form, filters = _filters(request, p.operator_id)
    board = request.args.get("vista") == "bacheca"
    now = utcnow()
    async with begin(request, screen="requests") as cx:
        s = cx.session
        tz = await ente_tz(s, p.ente_id)
        topics = list(await offices.list_topics(s, ente_id=p.ente_id))
        topic = next((t for t in topics if t.slug == form["argomento"]), None)
        form["argomento"] = topic.slug if topic else ""
        filters["topic_id"] = topic.id if topic else None
        stmt = tickets.list_stmt(ente_id=p.ente_id, filters=filters)
        rows = list((await s.scalars(stmt.order_by(Ticket.due_at, Ticket.id).limit(300))).all())
        people = await contacts_by_id(s, ente_id=p.ente_id, ids=[t.contact_id for t in rows])
        names = await operator_names(s, ente_id=p.ente_id)
        if rows:
            await cx.read("list", "request", None, details={"results": [t.id for t in rows]})
        sla = await tickets.sla_report(s, ente_id=p.ente_id)
    items = []
    for t in rows:
        c = people.get(t.contact_id)
        items.append(
            {
                "id": t.id,
                "code": t.code,
                "subject": t.subject,
                "priority": t.priority,
                "status": t.status,
                "citizen": c.display_name if c else f"Contatto #{t.contact_id}",
                "assignee": names.get(t.assignee_id, "—") if t.assignee_id else "Non assegnata",
                "due_at": t.due_at,
                "sla": sla_info(t, now),
            }
        )
    shown = (
        [form["stato"]] if form["stato"] in STATUSES else list(OPEN_STATUSES if form["stato"] == "aperte" else STATUSES)
    )
    columns = [(st, [i for i in items if i["status"] == st]) for st in shown]
    for _, cards in columns:  # on the board the most urgent come first: breached, then priority, then due time
        cards.sort(key=lambda i: (not i["sla"]["breached"], PRIORITY_ORDER.get(i["priority"], 9), i["due_at"]))
    query = {k: v for k, v in form.items() if v and not (k == "stato" and v == "aperte")}
    return render(
        "requests.html",
        **context(
            request,
            p,
            items=items,
            columns=columns,
            board=board,
            f=form,
            tz=tz,
            sla=sla,
            list_href="/console/requests" + ("?" + urlencode(query) if query else ""),
            board_href="/console/requests?" + urlencode({**query, "vista": "bacheca"}),
            status_options=[("aperte", "Aperte"), ("tutte", "Tutte")] + list(STATUS_LABEL.items()),
            priority_options=[(k, PRIORITY_LABEL[k]) for k in ("alta", "media", "bassa")],
            kind_options=list(KIND_LABEL.items()),
            topic_options=[(t.slug, t.name) for t in topics],
            assign_options=[("me", "Assegnate a me"), ("nessuno", "Non assegnate")],
        ),
    )


def _event_text(e: Any, names: dict[int, str]) -> str:
    def op(v: str | None) -> str:
        return names.get(int(v), f"operatore #{v}") if v and v.isdigit() else "nessuno"

    if e.action == "created":
        return "Richiesta creata"
    if e.action == "status":
        return (
            f"Stato: {STATUS_LABEL.get(e.from_value or '', e.from_value or '—')} → "
            f"{STATUS_LABEL.get(e.to_value or '', e.to_value or '—')}"
        )
    if e.action == "assigned":
        return f"Assegnata a {op(e.to_value)}" + (f" (prima: {op(e.from_value)})" if e.from_value else "")
    if e.action == "priority":
        return (
            f"Priorità: {PRIORITY_LABEL.get(e.from_value or '', e.from_value)} → "
            f"{PRIORITY_LABEL.get(e.to_value or '', e.to_value)}"
        )
    if e.action == "note":
        return "Nota interna"
    if e.action == "file":
        return "File allegato dalla conversazione"
    if e.action == "upload":
        return "File allegato dall'operatore"
    return e.action


async def _detail_ctx(s: Any, p: Any, ticket_id: int, closed_days: int) -> dict[str, Any]:
    t = await tickets.get(s, ente_id=p.ente_id, ticket_id=ticket_id)
    await tickets.load_events(s, t)
    tz = await ente_tz(s, p.ente_id)
    people = await contacts_by_id(s, ente_id=p.ente_id, ids=[t.contact_id])
    ops = [o for o in await operators.list_(s, ente_id=p.ente_id) if o.active]
    names = await operator_names(s, ente_id=p.ente_id)
    topic = None
    if t.topic_id:
        topic = next((x for x in await offices.list_topics(s, ente_id=p.ente_id) if x.id == t.topic_id), None)
    events = [
        {
            "at": e.at,
            "who": e.actor_name if e.actor_kind != "system" else "sistema",
            "what": _event_text(e, names),
            "note": e.note,
            "action": e.action,
            "ref": e.to_value or "",
        }
        for e in t.events
    ]
    by = ""
    if t.on_behalf:
        by = "Inserita per conto del cittadino da " + names.get(t.created_by_operator_id or 0, "un operatore")
    return {
        "t": t,
        "c": people.get(t.contact_id),
        "tz": tz,
        "topic": topic,
        "by": by,
        "sla_state": sla_info(t, utcnow()),
        "events": events,
        "notes": [e for e in events if e["action"] == "note"],
        # files of the citizen's conversation attached here (``<message id>:<index>``, served by the workspace)
        "files": [
            {**e, "href": "/console/files/{}/{}".format(*e["ref"].split(":", 1)), "image": False}
            for e in events
            if e["action"] == "file" and e["ref"].count(":") == 1 and e["note"]
        ]
        # the files the request carries (the phone desk's uploads), served here
        + [
            {
                "at": f.uploaded_at,
                "who": names.get(f.uploaded_by_operator_id or 0, "un operatore"),
                "note": f"{f.filename} ({chat_files.human_size(f.size)})"
                if f.storage_key
                else "File eliminato alla scadenza dei tempi di conservazione",
                "name": f.filename,
                # no storage key: deleted by retention (crm.contacts.retention), the row keeps type, size and date
                "href": f"/console/requests/{t.id}/files/{f.id}" if f.storage_key else "",
                "image": f.content_type in filetypes.IMAGES and bool(f.storage_key),
            }
            for f in await tickets.uploads(s, ente_id=p.ente_id, ticket_id=t.id)
        ],
        "assignee": names.get(t.assignee_id or 0, "—") if t.assignee_id else "Non assegnata",
        "operator_options": [(o.id, (o.full_name or o.username)) for o in ops],
        "transitions": [(to, STATUS_LABEL.get(to, to)) for to in STATUSES if to in tickets.TRANSITIONS[t.status]],
        "priority_options": [(k, PRIORITY_LABEL[k]) for k in ("alta", "media", "bassa")],
        "can_act": p.role in REQUEST_HANDLERS,
        # the phone desk and the operators attach the citizen's later photos and documents (tickets.policies.FILE)
        "can_upload": p.role in ticket_policies.FILE.staff,
        # concluded past its retention: the form is not offered (the service refuses the files), the page says why
        "upload_closed": (
            f"Non si possono allegare altri file: la richiesta è conclusa da oltre {closed_days} giorni e ha "
            "superato i tempi di conservazione."
            if tickets.past_retention(t, closed_days)
            else ""
        ),
    }


@bp.get("/requests/<ticket_id:int>")
@console_page(*REQUEST_VIEWERS)
async def request_page(request: Request, p: Principal, ticket_id: int) -> HTTPResponse:
    async with begin(request, screen="requests") as cx:
        ctx = await _detail_ctx(cx.session, p, ticket_id, request.app.ctx.settings.retention_closed_days)
        await cx.read("read", "request", ticket_id)
    ok = OUTCOME.get(request.args.get("esito", ""), "")
    return render("request.html", **context(request, p, **ctx, ok=ok, upload_error="", max_file=_max_file(request)))


@bp.get("/requests/<ticket_id:int>/files/<file_id:int>")
@console_page(*REQUEST_VIEWERS)
async def request_file(request: Request, p: Principal, ticket_id: int, file_id: int) -> HTTPResponse:
    """A file the request carries: its checked type, never sniffed, images inline; each read audited."""
    async with begin(request, screen="requests") as cx:
        f = next(
            (x for x in await tickets.uploads(cx.session, ente_id=p.ente_id, ticket_id=ticket_id) if x.id == file_id),
            None,
        )
        if f is None:
            raise NotFound("file not found")
        await cx.read("read_file", "request", ticket_id)
    root = chat_files.store_for(request.app.ctx.settings).root
    try:
        body = chat_files.path_of(root, f.storage_key).read_bytes()
    except (OSError, ValueError):
        raise NotFound("file no longer stored") from None
    headers = chat_files.headers({"name": f.filename, "content_type": f.content_type})
    return raw(body, content_type=f.content_type, headers=headers)


@bp.post("/requests/<ticket_id:int>/files")
@console_page(*ticket_policies.FILE.staff)
async def request_upload(request: Request, p: Principal, ticket_id: int) -> HTTPResponse:
    """Files attached later, from the request's page: the intake's checks (type by magic number, size, at most
    ``MAX_UPLOADS``; one refused file attaches nothing, said in Italian next to the field) and its command
    (``tickets.commands.upload_files``: audit line with the types, a history line per file)."""
    files = uploads_of(request)
    store = chat_files.store_for(request.app.ctx.settings)
    error = (
        file_error(files, store.max_bytes, "Nessun file è stato allegato.")
        if files
        else "Scelga almeno un file da allegare."
    )
    if not error:
        try:
            async with begin(request, screen="requests") as cx:
                await ticket_commands.upload_files(
                    cx,
                    ticket_id=ticket_id,
                    files=files,
                    store=store,
                    closed_days=request.app.ctx.settings.retention_closed_days,
                )
        except Conflict as e:  # concluded long ago: the next retention pass would delete them
            store.discard()
            if e.code != "past_retention":
                raise
            error = (
                "Nessun file è stato allegato: la richiesta è conclusa da oltre "
                f"{request.app.ctx.settings.retention_closed_days} giorni e ha superato i tempi di conservazione: "
                "non può ricevere nuovi file."
            )
        except BaseException:
            store.discard()
            raise
        else:
            return redirect(f"/console/requests/{ticket_id}?esito=files", status=303)
    async with begin(request, screen="requests") as cx:
        ctx = await _detail_ctx(cx.session, p, ticket_id, request.app.ctx.settings.retention_closed_days)
    return render(
        "request.html",
        **context(request, p, **ctx, ok="", upload_error=error, max_file=_max_file(request)),
        status=422,
    )


def _max_file(request: Request) -> str:
    return chat_files.human_size(request.app.ctx.settings.attachments_max_bytes)


@bp.post("/requests/<ticket_id:int>/<action:str>")
@console_page(*REQUEST_HANDLERS)
async def request_action(request: Request, p: Principal, ticket_id: int, action: str) -> HTTPResponse:
    form = request.form or {}
    if action not in ACTIONS:
        raise Forbidden("azione sconosciuta")
    note = (form.get("note") or "").strip()[:5000]
    async with begin(request, screen="requests") as cx:
        if action == "take":
            await ticket_commands.take(cx, ticket_id=ticket_id, note=note)
        elif action == "assign":
            raw = (form.get("operator_id") or "").strip()
            if raw and not raw.isdigit():
                raise ValidationFailed("unknown operator", fields={"operator_id": "unknown or inactive"})
            await ticket_commands.assign(cx, ticket_id=ticket_id, operator_id=int(raw) if raw else None)
        elif action == "priority":
            prio = form.get("priority") or ""
            if prio not in PRIORITIES:
                raise ValidationFailed("unknown priority", fields={"priority": "unknown"})
            await ticket_commands.set_priority(cx, ticket_id=ticket_id, priority=prio, note=note)
        elif action == "status":
            to = form.get("to") or ""
            if to not in STATUSES:
                raise ValidationFailed("unknown status", fields={"to": "unknown"})
            await ticket_commands.transition(cx, ticket_id=ticket_id, to=to, note=note)
        else:
            if not note:
                raise ValidationFailed("the note is empty", fields={"note": "required"})
            await ticket_commands.add_note(cx, ticket_id=ticket_id, note=note)
    return redirect(f"/console/requests/{ticket_id}?esito={action}", status=303)

"""Quick replies (risposte rapide), admins only: the list, a new one, edit, delete. Operators insert them in the
workspace's composer with ``/`` and a few letters of the shortcut (``static/composer.js``)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sanic import Request
from sanic.response import HTTPResponse, redirect

from crm.console.forms import field_message
from crm.console.kit import bp, render
from crm.console.session import console_page, context
from crm.core.auth import Principal
from crm.core.commands import begin
from crm.core.errors import Conflict, NotFound
from crm.db import read_session
from crm.offices import service as offices
from crm.replies import commands, policies
from crm.replies import service as replies
from crm.replies.schemas import QuickReplyIn, QuickReplyPatch

EDITORS = policies.MANAGE.staff
OUTCOME = {
    "creata": "Risposta rapida creata: gli operatori la trovano scrivendo «/» e la scorciatoia.",
    "salvata": "Modifiche salvate.",
    "eliminata": "Risposta rapida eliminata.",
}
SHORTCUT_HELP = "Lettere minuscole senza accenti, numeri e trattini: l'operatore scrive «/» e le prime lettere."


def _values(form: Any) -> dict[str, str]:
    return {k: (form.get(k) or "") for k in ("shortcut", "title", "text", "topic_id")}


def _errors(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "form"
        msg = str(err.get("msg", ""))
        out.setdefault(name, SHORTCUT_HELP if name == "shortcut" and "pattern" in msg else field_message(msg))
    return out


async def _page(
    request: Request,
    p: Principal,
    *,
    reply_id: int | None,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
    ok: str = "",
) -> HTTPResponse:
    async with read_session(request) as s:
        topics = [(str(t.id), t.name) for t in await offices.list_topics(s, ente_id=p.ente_id)]
    return render(
        "reply_edit.html",
        status=status,
        **context(
            request,
            p,
            reply_id=reply_id,
            values=values,
            topics=topics,
            errors=errors or {},
            error="La risposta non è stata salvata: corregga i campi indicati." if errors else "",
            ok=ok,
            shortcut_help=SHORTCUT_HELP,
        ),
    )


@bp.get("/replies")
@console_page(*EDITORS)
async def replies_list(request: Request, p: Principal) -> HTTPResponse:
    async with read_session(request) as s:
        rows = list(await replies.list_(s, ente_id=p.ente_id))
        topics = {t.id: t.name for t in await offices.list_topics(s, ente_id=p.ente_id)}
    return render(
        "replies.html",
        **context(request, p, rows=rows, topics=topics, ok=OUTCOME.get(request.args.get("esito", ""), "")),
    )


@bp.get("/replies/new")
@console_page(*EDITORS)
async def reply_new(request: Request, p: Principal) -> HTTPResponse:
    return await _page(request, p, reply_id=None, values=_values({}))


async def _save(request: Request, p: Principal, reply_id: int | None) -> HTTPResponse:
    values = _values(request.form or {})
    topic = values["topic_id"]
    raw = {
        "shortcut": values["shortcut"],
        "title": values["title"],
        "text": values["text"],
        "topic_id": int(topic) if topic.isdigit() else None,
    }
    try:
        data = QuickReplyIn(**raw) if reply_id is None else QuickReplyPatch(**raw)  # type: ignore[arg-type]
    except ValidationError as exc:
        return await _page(request, p, reply_id=reply_id, values=values, errors=_errors(exc), status=422)
    try:
        async with begin(request, screen="replies") as cx:
            if isinstance(data, QuickReplyIn):
                await commands.create(cx, data=data)
            else:
                await commands.update(cx, reply_id=reply_id or 0, data=data)
    except Conflict as exc:
        if "shortcut" not in exc.fields:
            raise
        errors = {"shortcut": "Questa scorciatoia è già usata da un'altra risposta: ne scelga un'altra."}
        return await _page(request, p, reply_id=reply_id, values=values, errors=errors, status=409)
    except NotFound as exc:
        if "topic" not in exc.message:
            raise
        errors = {"topic_id": "Ambito sconosciuto."}
        return await _page(request, p, reply_id=reply_id, values=values, errors=errors, status=422)
    return redirect(f"/console/replies?esito={'creata' if reply_id is None else 'salvata'}", status=303)


@bp.post("/replies/new")
@console_page(*EDITORS)
async def reply_create(request: Request, p: Principal) -> HTTPResponse:
    return await _save(request, p, None)


@bp.get("/replies/<reply_id:int>")
@console_page(*EDITORS)
async def reply_edit(request: Request, p: Principal, reply_id: int) -> HTTPResponse:
    async with read_session(request) as s:
        row = await replies.get(s, ente_id=p.ente_id, reply_id=reply_id)
        values = {
            "shortcut": row.shortcut,
            "title": row.title,
            "text": row.text,
            "topic_id": str(row.topic_id or ""),
        }
    return await _page(request, p, reply_id=reply_id, values=values)


@bp.post("/replies/<reply_id:int>")
@console_page(*EDITORS)
async def reply_update(request: Request, p: Principal, reply_id: int) -> HTTPResponse:
    return await _save(request, p, reply_id)


@bp.post("/replies/<reply_id:int>/delete")
@console_page(*EDITORS)
async def reply_delete(request: Request, p: Principal, reply_id: int) -> HTTPResponse:
    async with begin(request, screen="replies") as cx:
        await commands.delete(cx, reply_id=reply_id)
    return redirect("/console/replies?esito=eliminata", status=303)

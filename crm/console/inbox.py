"""The operators' conversation workspace: the list, the open conversation's thread and its context side by side.

The page is rendered once; afterwards ``static/workspace.js`` keeps it live from the event stream (``/api/v1/events``)
by asking for fragments: the list (``/console/inbox/list``) and the thread's news (``/console/conversations/<id>/live``:
messages after the last one shown, the header, delivery states). Actions and replies post to the same routes as the
forms without script; asked by the script they answer with the news instead of a redirect."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sanic import Request
from sanic.response import HTTPResponse, json, raw, redirect
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.bookings import service as bookings
from crm.console.kit import BOOKING_STATUS_LABEL, INSTANCE_STATUS_LABEL, STATUS_LABEL, bp, ente_tz, env, render
from crm.console.lookups import CONFLICT_OUTCOME, contact_conflicts
from crm.console.session import console_page, context
from crm.contacts import commands as contact_commands
from crm.contacts import policies as contact_policies
from crm.contacts import service as contacts
from crm.contacts.models import Contact
from crm.contacts.schemas import ContactPatch, normalise_fiscal_code, normalise_phone
from crm.conversations import commands, reads, sla
from crm.conversations import files as chat_files
from crm.conversations import service as conversations
from crm.conversations.models import Conversation, Message
from crm.conversations.policies import HANDLE, VIEW
from crm.core.auth import Principal
from crm.core.commands import Context, begin
from crm.core.errors import ApiError, Conflict, Forbidden, NotFound, ValidationFailed
from crm.db import read_session, utcnow
from crm.instances import service as instances
from crm.offices import service as offices
from crm.operators.models import Operator
from crm.replies import service as replies
from crm.tickets import service as tickets
from crm.tickets.models import OPEN_STATUSES

VIEWS = [("waiting", "In attesa"), ("mine", "Mie"), ("unassigned", "Non assegnate"), ("all", "Tutte aperte")]
LIST_LIMIT = 200
OPEN_INSTANCE = ("submitted", "protocolled", "in_charge", "integration_requested", "integrated")
PANEL_OUTCOME = {  # the context panel's contact, after an edit in place or a resolved conflict
    **CONFLICT_OUTCOME,
    "salvato": "Dati del contatto salvati.",
    "invariato": "Nessuna modifica da salvare.",
}
SCRIPTED = "X-Requested-With"  # set by workspace.js: answer with the thread's news, not a redirect


def _filters(request: Request) -> dict[str, Any]:
    args = request.args
    view = args.get("view", "waiting")
    view = "all" if view == "open" else view
    topic = args.get("topic", "")
    return {
        "view": view if view in conversations.WORKSPACE_VIEWS else "waiting",
        "channel": args.get("channel", "") if args.get("channel", "") in ("web", "sms", "telegram", "email") else "",
        "topic": int(topic) if topic.isdigit() else None,
        "q": (args.get("q") or "").strip()[:100],
    }


def _query(f: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in f.items() if v not in ("", None)})


async def _list(s: AsyncSession, p: Principal, f: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """The list pane's data: the rows of the view, with the contact's name, the assignee, this operator's unread
    count, the wait and its SLA state; and the ids waiting in the whole queue (the alerts and the title count)."""
    topics = {t.id: t for t in await offices.list_topics(s, ente_id=p.ente_id)}
    stmt = conversations.workspace_stmt(
        ente_id=p.ente_id,
        view=f["view"],
        operator_id=p.operator_id,
        channel=f["channel"] or None,
        topic_id=f["topic"],
        q=f["q"],
    )
    rows = list((await s.scalars(stmt.limit(LIST_LIMIT))).all())
    ids = [c.id for c in rows]
    people = (
        {
            c.id: c
            for c in (
                await s.scalars(
                    select(Contact).where(Contact.ente_id == p.ente_id, Contact.id.in_({c.contact_id for c in rows}))
                )
            ).all()
        }
        if rows
        else {}
    )
    staff = {
        o.id: o.full_name or o.username
        for o in (await s.scalars(select(Operator).where(Operator.ente_id == p.ente_id))).all()
    }
    unread = await reads.unread(s, ente_id=p.ente_id, operator_id=p.operator_id, conversation_ids=ids)
    last_text = {}
    if ids:
        last = (
            select(Message.conversation_id, func.max(Message.id).label("m"))
            .where(Message.ente_id == p.ente_id, Message.conversation_id.in_(ids), Message.private.is_(False))
            .group_by(Message.conversation_id)
            .subquery()
        )
        last_text = dict(
            (await s.execute(select(Message.conversation_id, Message.text).join(last, last.c.m == Message.id))).all()
        )
    waiting = list(
        (
            await s.scalars(
                select(Conversation.id)
                .where(Conversation.ente_id == p.ente_id, Conversation.mode == "waiting")
                .order_by(Conversation.id)
            )
        ).all()
    )
    now = utcnow()
    targets = await sla.targets(s, p.ente_id)
    items = []
    for c in rows:
        person = people.get(c.contact_id)
        since = c.handoff_at if c.mode in ("waiting", "assigned") and c.handoff_at else None
        items.append(
            {
                "id": c.id,
                "name": person.display_name if person else f"Contatto #{c.contact_id}",
                "channel": c.channel,
                "mode": c.mode,
                "topic": topics[c.topic_id].name if c.topic_id in topics else "",
                "assignee": staff.get(c.assignee_id or 0, ""),
                "mine": c.assignee_id == p.operator_id,
                "unread": unread.get(c.id, 0),
                "minutes": int((now - since).total_seconds() // 60) if since else None,
                "sla": sla.clock(c, targets, now),
                "last": (last_text.get(c.id) or "")[:90],
                "summary": c.handoff_summary[:120] if c.mode == "waiting" else "",
                "at": c.last_message_at,
            }
        )
    return {
        "items": items,
        "waiting_ids": waiting,
        "topics": list(topics.values()),
        "f": f,
        "qs": _query(f),
        "tz": tz,
        "views": VIEWS,
    }


async def _context_panel(s: AsyncSession, p: Principal, contact: Contact, tz: ZoneInfo) -> dict[str, Any]:
    """The contact's open requests, upcoming bookings and istanze in progress, as links."""
    reqs = [
        t
        for t in (await s.scalars(tickets.list_stmt(ente_id=p.ente_id, filters={"contact_id": contact.id}))).all()
        if t.status in OPEN_STATUSES
    ][:10]
    books = [
        b
        for b in (
            await s.scalars(
                bookings.list_stmt(
                    ente_id=p.ente_id,
                    contact_id=contact.id,
                    service_id=None,
                    status="confirmed",
                    d_from=utcnow() - timedelta(hours=2),
                    d_to=None,
                )
            )
        ).all()
    ][:10]
    insts = [
        i
        for i in (
            await s.scalars(instances.list_stmt(ente_id=p.ente_id, contact_id=contact.id, status=None, type_id=None))
        ).all()
        if i.status in OPEN_INSTANCE
    ][:10]
    return {
        "requests": [
            {
                "href": f"/console/requests/{t.id}",
                "code": t.code,
                "text": t.subject,
                "state": STATUS_LABEL.get(t.status, ""),
            }
            for t in reqs
        ],
        "bookings": [
            {
                "href": f"/console/bookings?giorno={b.start.astimezone(tz):%Y-%m-%d}",
                "code": b.code,
                "text": b.start.astimezone(tz).strftime("%d/%m/%Y %H:%M"),
                "state": BOOKING_STATUS_LABEL.get(b.status, ""),
            }
            for b in books
        ],
        "instances": [
            {
                "href": f"/console/instances/{i.id}",
                "code": i.code,
                "text": i.protocol_number or "",
                "state": INSTANCE_STATUS_LABEL.get(i.status, ""),
            }
            for i in insts
        ],
    }


async def _thread(cx: Context, p: Principal, conversation_id: int, after: int = 0) -> dict[str, Any]:
    """The open conversation: header state, messages after ``after``, and the delivery state of the latest replies."""
    s = cx.session
    conv = await conversations.get(s, ente_id=p.ente_id, conversation_id=conversation_id)
    msgs = await conversations.messages(
        s, ente_id=p.ente_id, conversation_id=conv.id, include_private=True, after=after
    )
    if not after or msgs:
        await cx.read("read", "conversation", conv.id, details={"after": after} if after else None)
        await commands.mark_read(cx, conversation_id=conv.id)  # this operator's unread count clears
    contact = await contacts.get(s, ente_id=p.ente_id, contact_id=conv.contact_id)
    assignee = await s.get(Operator, conv.assignee_id) if conv.assignee_id else None
    topic = await offices.get_topic(s, ente_id=p.ente_id, topic_id=conv.topic_id) if conv.topic_id else None
    recent = (
        await s.execute(
            select(Message.id, Message.delivery_status)
            .where(
                Message.ente_id == p.ente_id,
                Message.conversation_id == conv.id,
                Message.direction == "out",
                Message.private.is_(False),
            )
            .order_by(Message.id.desc())
            .limit(20)
        )
    ).all()
    return {
        "conv": conv,
        "messages": msgs,
        "contact": contact,
        "assignee": assignee,
        "topic": topic,
        "mine": conv.mode == "assigned" and conv.assignee_id == p.operator_id,
        "can_reply": conv.mode != "closed"
        and ((conv.mode == "assigned" and conv.assignee_id == p.operator_id) or p.role == "admin"),
        "statuses": {mid: st for mid, st in recent},
        "all_topics": await offices.list_topics(s, ente_id=p.ente_id),
        "sla": sla.clock(conv, await sla.targets(s, p.ente_id), utcnow()),
        "targets": await _file_targets(s, p, contact.id) if any(chat_files.stored(m.attachments) for m in msgs) else [],
        "files_on": conv.channel not in commands.NO_FILES_ON,
        "max_file": chat_files.human_size(cx.app.ctx.settings.attachments_max_bytes) if cx.app else "",
    }


async def _file_targets(s: AsyncSession, p: Principal, contact_id: int) -> list[tuple[str, str]]:
    """Where a file of the thread can go: the citizen's open requests and istanze ("request:12", "Richiesta R-...")."""
    reqs = [
        t
        for t in (await s.scalars(tickets.list_stmt(ente_id=p.ente_id, filters={"contact_id": contact_id}))).all()
        if t.status in OPEN_STATUSES
    ][:10]
    insts = [
        i
        for i in (
            await s.scalars(instances.list_stmt(ente_id=p.ente_id, contact_id=contact_id, status=None, type_id=None))
        ).all()
        if i.status in OPEN_INSTANCE
    ][:10]
    return [(f"request:{t.id}", f"Richiesta {t.code}") for t in reqs] + [
        (f"instance:{i.id}", f"Istanza {i.code}") for i in insts
    ]


def _news(ctx: dict[str, Any], **page: Any) -> dict[str, Any]:
    """What the script puts into the open page: new messages, the header, the delivery states, the last id."""
    conv = ctx["conv"]
    return {
        "conversation_id": conv.id,
        "mode": conv.mode,
        "messages": env.get_template("_ws_messages.html").render(**page, **ctx),
        "head": env.get_template("_ws_head.html").render(**page, **ctx),
        "last_id": ctx["messages"][-1].id if ctx["messages"] else None,
        "statuses": {str(k): env.get_template("_ws_status.html").render(status=v) for k, v in ctx["statuses"].items()},
        "can_reply": ctx["can_reply"],
    }


@bp.get("/inbox")
@console_page()
async def inbox(request: Request, p: Principal) -> HTTPResponse:
    f = _filters(request)
    async with begin(request, screen="conversations") as cx:
        tz = await ente_tz(cx.session, p.ente_id)
        data = await _list(cx.session, p, f, tz)
        if f["q"]:
            await cx.read("search", "conversation", None, details={"results": [i["id"] for i in data["items"]]})
    return render("workspace.html", **context(request, p, **data, thread=None))


@bp.get("/inbox/list")
@console_page()
async def inbox_list(request: Request, p: Principal) -> HTTPResponse:
    """The list pane alone, for the script's refresh."""
    f = _filters(request)
    current = request.args.get("current", "")
    async with read_session(request) as s:
        tz = await ente_tz(s, p.ente_id)
        data = await _list(s, p, f, tz)
    html = env.get_template("_ws_list.html").render(
        **context(request, p, **data, current=int(current) if current.isdigit() else None)
    )
    return json({"html": html, "waiting_ids": data["waiting_ids"]}, headers={"Cache-Control": "no-store"})


@bp.get("/conversations/<conversation_id:int>")
@console_page()
async def conversation(request: Request, p: Principal, conversation_id: int) -> HTTPResponse:
    f = _filters(request)
    async with begin(request, screen="conversations") as cx:
        s = cx.session
        tz = await ente_tz(s, p.ente_id)
        thread = await _thread(cx, p, conversation_id)
        data = await _list(s, p, f, tz)
        side = await _context_panel(s, p, thread["contact"], tz)
        quick = [
            {"shortcut": r.shortcut, "title": r.title, "text": r.text}
            for r in await replies.for_topic(s, ente_id=p.ente_id, topic_id=thread["conv"].topic_id)
        ]
        conflicts = await contact_conflicts(s, ente_id=p.ente_id, contact=thread["contact"])
        slot_names = await _slot_names(s, p.ente_id)
    return render(
        "workspace.html",
        **context(
            request,
            p,
            **data,
            **thread,
            thread=thread,
            side=side,
            current=conversation_id,
            quick=quick,
            summary_slots=_slots(thread["conv"].handoff_context, slot_names),
            conflicts=conflicts,
            outcome=PANEL_OUTCOME.get(request.args.get("esito", ""), ""),
        ),
    )


@bp.get("/conversations/<conversation_id:int>/live")
@console_page()
async def conversation_live(request: Request, p: Principal, conversation_id: int) -> HTTPResponse:
    after = request.args.get("after", "0")
    refresh = {int(x) for x in request.args.get("refresh", "").split(",")[:20] if x.isdigit()}
    async with begin(request, screen="conversations") as cx:
        tz = await ente_tz(cx.session, p.ente_id)
        ctx = await _thread(cx, p, conversation_id, after=int(after) if after.isdigit() else 0)
        again = (
            [
                m
                for m in await conversations.messages(
                    cx.session, ente_id=p.ente_id, conversation_id=conversation_id, include_private=True
                )
                if m.id in refresh
            ]
            if refresh
            else []
        )
        if again and not ctx["targets"] and any(chat_files.stored(m.attachments) for m in again):
            ctx["targets"] = await _file_targets(cx.session, p, ctx["contact"].id)
    page = {"tz": tz, "csrf": context(request, p)["csrf"]}
    news = _news(ctx, **page)
    # messages shown while their files were on their way (data-pending): drawn again, once the files are there
    news["replaced"] = {
        str(m.id): env.get_template("_ws_messages.html").render(**page, **{**ctx, "messages": [m]})
        for m in again
        if not any(isinstance(a, dict) and a.get("pending") for a in m.attachments or [])
    }
    return json(news, headers={"Cache-Control": "no-store"})


# the assistant's slots an operator reads, in Italian; the others (flags, counters, ids, codes) are its own state
SLOT_LABELS = {
    "service": "Servizio",
    "booking_service": "Servizio da prenotare",
    "booking_day": "Giorno",
    "booking_start": "Orario",
    "booking_name": "Nome",
    "booking_fiscal_code": "Codice fiscale",
    "booking_phone": "Telefono",
    "booking_email": "E-mail",
    "booking_extra": "Altre informazioni",
    "cancel_code": "Prenotazione da annullare",
    "cancel_summary": "Prenotazione da annullare",
    "issue_description": "Problema segnalato",
    "issue_place": "Luogo",
    "request_code": "Codice della richiesta",
    "instance_subject": "Oggetto dell'istanza",
    "instance_description": "Descrizione dell'istanza",
    "date": "Data",
    "kb_last_query": "Ultima domanda all'assistente",
}


async def _slot_names(s: AsyncSession, ente_id: int) -> dict[str, str]:
    """Codes the assistant's slots may hold (a topic's, a booking service's) and the names shown for them."""
    names = {sv.slug: sv.name for sv in await bookings.list_services(s, ente_id=ente_id, include_inactive=True)}
    names.update(await offices.topic_names(s, ente_id=ente_id))
    return names


def _slots(ctx: dict[str, Any] | None, names: dict[str, str]) -> list[tuple[str, str]]:
    """The assistant's collected slots, for the context panel: the ones an operator reads, labelled in Italian, a
    topic's or a service's code shown by its name; plain values only."""
    out = []
    for k, v in (ctx or {}).get("slots", {}).items() if isinstance((ctx or {}).get("slots"), dict) else []:
        if k in SLOT_LABELS and v not in (None, "", [], {}) and isinstance(v, str | int | float):
            out.append((SLOT_LABELS[k], names.get(str(v), str(v))[:200]))
    return out


@bp.get("/files/<message_id:int>/<index:int>")
@console_page(*VIEW.staff)
async def message_file(request: Request, p: Principal, message_id: int, index: int) -> HTTPResponse:
    """A file of a conversation, for the operators who may see conversations; every look is in the audit log."""
    async with begin(request, screen="conversation") as cx:
        m, a = await conversations.get_file(cx.session, ente_id=p.ente_id, message_id=message_id, index=index)
        await cx.read("read", "message_file", m.id, details={"index": index, "conversation_id": m.conversation_id})
    store = chat_files.store_for(request.app.ctx.settings)
    try:
        body = chat_files.path_of(store.root, str(a["key"])).read_bytes()
    except (OSError, ValueError):  # erased with its citizen's data
        raise NotFound("file erased") from None
    return raw(body, content_type=str(a["content_type"]), headers=chat_files.headers(a))


def _uploads(request: Request) -> list[tuple[str, bytes]]:
    """The composer's files (an empty file input sends one nameless empty part: not a file)."""
    got = request.files.getlist("file") if request.files else []
    return [(f.name or "", f.body) for f in got or [] if f.name or f.body]


def _refused(request: Request, p: Principal, exc: ApiError, title: str) -> HTTPResponse:
    """A refused file in Italian, the reason as the command gave it (the console's generic mapping would lose it)."""
    message = {
        403: "Il suo ruolo non consente questa operazione.",
        404: "Il file non è stato trovato o non è più disponibile.",
    }.get(exc.status, exc.message)
    return render("error.html", status=exc.status, **context(request, p, title=title, message=message))


async def _operator_typing(request: Request, p: Principal, conversation_id: int) -> HTTPResponse:
    """The operator is writing a reply (workspace.js, throttled): the citizen is told, by the channel hub. A hint,
    not a change: nothing stored, nothing audited; only from whoever may reply in the conversation now."""
    async with read_session(request) as s:
        conv = await conversations.get(s, ente_id=p.ente_id, conversation_id=conversation_id)
    if conv.mode == "assigned" and (conv.assignee_id == p.operator_id or p.role == "admin"):
        await request.app.dispatch(
            commands.OPERATOR_TYPING,
            context={"ente_id": p.ente_id, "conversation_id": conv.id},
            fail_not_found=False,
        )
    return HTTPResponse(status=204)


@bp.post("/conversations/<conversation_id:int>/<action:str>")
@console_page(*HANDLE.staff)
async def conversation_action(request: Request, p: Principal, conversation_id: int, action: str) -> HTTPResponse:
    form = request.form or {}
    if action == "typing":
        return await _operator_typing(request, p, conversation_id)
    if action not in ("take", "close", "return", "transfer", "reply", "note", "attach"):
        raise Forbidden("azione sconosciuta")
    # a form sends its line breaks as CRLF: the citizen's channel gets plain newlines
    text = (form.get("text") or "").replace("\r\n", "\n").strip()[:4000]
    uploads = _uploads(request) if action == "reply" else []
    store = chat_files.store_for(request.app.ctx.settings)
    try:
        async with begin(request, screen="conversation") as cx:
            await _act(cx, form, conversation_id, action, text, uploads, store)
    except ApiError as exc:
        store.discard()
        if action == "attach" or (action == "reply" and uploads and "file" in exc.fields):
            return _refused(request, p, exc, "File non allegato" if action == "attach" else "File non inviato")
        raise
    except BaseException:
        store.discard()
        raise
    if request.headers.get(SCRIPTED) == "workspace":
        after = form.get("after") or "0"
        async with begin(request, screen="conversations") as cx:
            tz = await ente_tz(cx.session, p.ente_id)
            ctx = await _thread(cx, p, conversation_id, after=int(after) if after.isdigit() else 0)
        return json(_news(ctx, tz=tz, csrf=context(request, p)["csrf"]))
    return redirect(f"/console/conversations/{conversation_id}", status=303)


async def _act(
    cx: Context,
    form: Any,
    conversation_id: int,
    action: str,
    text: str,
    uploads: list[tuple[str, bytes]],
    store: Any,
) -> None:
    if action == "attach":
        target, _, target_id = str(form.get("target") or "").partition(":")
        message_id, index = str(form.get("message_id") or ""), str(form.get("index") or "")
        if not (target_id.isdigit() and message_id.isdigit() and index.isdigit()):
            raise ValidationFailed("Scelga una richiesta o un'istanza.", fields={"target": "required"})
        m, _ = await conversations.get_file(
            cx.session, ente_id=cx.ente_id, message_id=int(message_id), index=int(index)
        )
        if m.conversation_id != conversation_id:
            raise NotFound("file not found")
        await commands.attach_file(
            cx, message_id=int(message_id), index=int(index), target=target, target_id=int(target_id), store=store
        )
        return
    if action == "take":
        await commands.take(cx, conversation_id=conversation_id)
    elif action == "close":
        await commands.close(cx, conversation_id=conversation_id)
    elif action == "return":
        await commands.return_to_bot(cx, conversation_id=conversation_id)
    elif action == "transfer":
        await commands.transfer(cx, conversation_id=conversation_id, topic=form.get("topic") or None)
    elif action == "reply" and (text or uploads):  # an empty form changes nothing
        await commands.reply(cx, conversation_id=conversation_id, text=text, files=uploads or None, store=store)
    elif action == "note" and text:
        await commands.note(cx, conversation_id=conversation_id, text=text)


# --- the contact, edited in place in the context panel --------------------------------------------------------------
INLINE_FIELDS = ("first_name", "last_name", "fiscal_code", "phone", "email")


async def _contact_panel(cx: Context, request: Request, p: Principal, conv: Conversation, **extra: Any) -> str:
    """The context panel's contact (an audited read), with its conflicts and the form to edit it in place."""
    contact = await contact_commands.read(cx, contact_id=conv.contact_id)
    conflicts = await contact_conflicts(cx.session, ente_id=p.ente_id, contact=contact)
    return env.get_template("_ws_contact.html").render(
        **context(request, p, contact=contact, conv=conv, conflicts=conflicts, **extra)
    )


@bp.get("/conversations/<conversation_id:int>/contact")
@console_page()
async def conversation_contact(request: Request, p: Principal, conversation_id: int) -> HTTPResponse:
    """The context panel's contact alone, for the script (after an edit, a resolved conflict, a contact event)."""
    outcome = PANEL_OUTCOME.get(request.args.get("esito", ""), "")
    async with begin(request, screen="conversations") as cx:
        conv = await conversations.get(cx.session, ente_id=p.ente_id, conversation_id=conversation_id)
        html = await _contact_panel(cx, request, p, conv, outcome=outcome)
    return json({"html": html}, headers={"Cache-Control": "no-store"})


def _inline_errors(values: dict[str, str]) -> dict[str, str]:
    """The form's mistakes in Italian, next to their field (python-stdnum checks the codice fiscale)."""
    errors: dict[str, str] = {}
    for name in ("first_name", "last_name"):
        if len(values[name]) > 100:
            errors[name] = "Al massimo 100 caratteri."
    if values["fiscal_code"]:
        try:
            values["fiscal_code"] = normalise_fiscal_code(values["fiscal_code"])
        except ValueError:
            errors["fiscal_code"] = (
                "Codice fiscale non valido: controlli le 16 lettere e cifre (le trova sulla tessera sanitaria)."
            )
    if values["phone"]:
        try:
            values["phone"] = normalise_phone(values["phone"])
        except ValueError:
            errors["phone"] = "Numero di telefono non valido: lo scriva con il prefisso, ad esempio 333 123 4567."
    if values["email"] and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", values["email"]):
        errors["email"] = "Indirizzo e-mail non valido: controlli che abbia la forma nome@dominio.it."
    return errors


@bp.post("/contacts/<contact_id:int>/inline")
@console_page(*contact_policies.EDIT.staff)
async def contact_inline(request: Request, p: Principal, contact_id: int) -> HTTPResponse:
    """Name, codice fiscale, phone and e-mail changed from the workspace's context panel (the first phone and e-mail:
    the others stay), through the contacts' update command."""
    form = request.form or {}
    conv_raw = form.get("conv") or ""
    values = {k: " ".join((form.get(k) or "").split()) for k in INLINE_FIELDS}
    values["email"] = values["email"].lower()
    errors = _inline_errors(values)
    changed: list[str] = []
    if not errors:
        try:
            async with begin(request, screen="conversation") as cx:
                if conv_raw.isdigit():
                    conv = await conversations.get(cx.session, ente_id=p.ente_id, conversation_id=int(conv_raw))
                    if conv.contact_id != contact_id:
                        raise Forbidden("il contatto non è quello della conversazione")
                c = await contacts.get(cx.session, ente_id=p.ente_id, contact_id=contact_id)
                phones = [x.e164 for x in c.phones[1:] if x.e164 != values["phone"]]
                emails = [x.email for x in c.emails[1:] if x.email != values["email"]]
                data = ContactPatch(
                    first_name=values["first_name"],
                    last_name=values["last_name"],
                    fiscal_code=values["fiscal_code"] or None,
                    phones=[values["phone"], *phones] if values["phone"] else phones,
                    emails=[values["email"], *emails] if values["email"] else emails,
                )
                _, changed = await contact_commands.update(cx, contact_id=contact_id, data=data)
        except ValidationError:
            errors["email"] = "Indirizzo e-mail non valido: controlli che abbia la forma nome@dominio.it."
        except Conflict as exc:
            if "fiscal_code" in exc.fields:
                errors["fiscal_code"] = (
                    "Questo codice fiscale è già di un altro contatto: se è la stessa persona, unisca i due contatti."
                )
            else:
                errors["_"] = "I dati di questo contatto non possono più essere modificati."
    if request.headers.get(SCRIPTED) != "workspace":
        if errors or not conv_raw.isdigit():
            return redirect(f"/console/contacts/{contact_id}/edit", status=303)
        return redirect(f"/console/conversations/{conv_raw}?esito={'salvato' if changed else 'invariato'}", status=303)
    if not conv_raw.isdigit():
        raise Forbidden("conversazione mancante")
    async with begin(request, screen="conversations") as cx:
        conv = await conversations.get(cx.session, ente_id=p.ente_id, conversation_id=int(conv_raw))
        if errors:
            html = await _contact_panel(cx, request, p, conv, errors=errors, values=values, editing=True)
        else:
            html = await _contact_panel(
                cx, request, p, conv, outcome=PANEL_OUTCOME["salvato" if changed else "invariato"]
            )
    return json({"html": html, "ok": not errors}, status=422 if errors else 200)

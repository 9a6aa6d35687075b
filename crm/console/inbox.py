"""The operators' inbox and a conversation's page: take, reply, note, transfer, return to the assistant, close."""

from __future__ import annotations

from sanic import Request
from sanic.response import HTTPResponse, redirect

from crm.audit import service as audit
from crm.console.kit import bp, render
from crm.console.session import console_page, context
from crm.contacts import service as contacts
from crm.conversations import service as conversations
from crm.conversations.models import Conversation
from crm.core.auth import Principal
from crm.core.errors import Forbidden
from crm.db import db_session
from crm.events import emit
from crm.offices import service as offices


@bp.get("/inbox")
@console_page()
async def inbox(request: Request, p: Principal) -> HTTPResponse:
    view = request.args.get("view", "waiting")
    async with db_session(request) as s:
        topics = {t.id: t for t in await offices.list_topics(s, ente_id=p.ente_id)}
        stmt = conversations.list_stmt(ente_id=p.ente_id, mode={"waiting": "waiting", "mine": "assigned",
                                                                "open": "open"}.get(view, "waiting"),
                                       assignee_id=p.operator_id if view == "mine" else None)
        rows = (await s.scalars(stmt.order_by(Conversation.handoff_at.asc().nulls_last(),
                                              Conversation.last_message_at.desc()).limit(200))).all()
        items = [conversations.to_out(c, topics[c.topic_id].slug if c.topic_id in topics else None) for c in rows]
        names = {}
        for c in rows:
            contact = await contacts.get(s, ente_id=p.ente_id, contact_id=c.contact_id)
            names[c.id] = contact.display_name
    return render("inbox.html", **context(request, p, view=view, items=items, names=names,
                                          topics={t.id: t.name for t in topics.values()}))


@bp.get("/conversations/<conversation_id:int>")
@console_page()
async def conversation(request: Request, p: Principal, conversation_id: int) -> HTTPResponse:
    async with db_session(request) as s:
        conv = await conversations.get(s, ente_id=p.ente_id, conversation_id=conversation_id)
        msgs = await conversations.messages(s, ente_id=p.ente_id, conversation_id=conv.id, include_private=True)
        contact = await contacts.get(s, ente_id=p.ente_id, contact_id=conv.contact_id)
        topics = await offices.list_topics(s, ente_id=p.ente_id)
        await audit.record(s, principal=p, action="read", entity="conversation", entity_id=conv.id)
        out = conversations.to_out(conv)
    return render("conversation.html", **context(request, p, conv=out, messages=msgs, contact=contact,
                                                 topics=topics, canned=CANNED))


CANNED = ["Buongiorno, sono un operatore dell'URP: come posso aiutarla?",
          "Le invio il link alla pagina con tutte le informazioni.",
          "Grazie per la pazienza, verifico con l'ufficio competente e le rispondo a breve.",
          "La richiesta è stata registrata. Riceverà un messaggio a ogni aggiornamento.",
          "Grazie a lei, buona giornata!"]


@bp.post("/conversations/<conversation_id:int>/<action:str>")
@console_page("admin", "operator", "phone_operator")
async def conversation_action(request: Request, p: Principal, conversation_id: int, action: str) -> HTTPResponse:
    form = request.form or {}
    from crm.conversations.api import notify_outbound

    sent_id = None
    async with db_session(request) as s:
        if action == "take":
            await conversations.take(s, ente_id=p.ente_id, conversation_id=conversation_id, operator_id=p.operator_id)
        elif action == "close":
            await conversations.close(s, ente_id=p.ente_id, conversation_id=conversation_id)
        elif action == "return":
            await conversations.return_to_bot(s, ente_id=p.ente_id, conversation_id=conversation_id)
        elif action == "transfer":
            await conversations.transfer(s, ente_id=p.ente_id, conversation_id=conversation_id,
                                         topic_slug=form.get("topic") or None, operator_id=None)
        elif action in ("reply", "note"):
            text = (form.get("text") or "").strip()[:4000]
            if text:
                conv = await conversations.get(s, ente_id=p.ente_id, conversation_id=conversation_id, lock=True)
                if action == "reply" and not (conv.mode == "assigned" and conv.assignee_id == p.operator_id):
                    raise Forbidden("prenda in carico la conversazione prima di rispondere")
                msg = await conversations.record_outbound(s, conv=conv, text=text, author_kind="operator",
                                                          operator_id=p.operator_id, private=action == "note")
                sent_id = None if action == "note" else msg.id
        else:
            raise Forbidden("azione sconosciuta")
        await audit.record(s, principal=p, action=action, entity="conversation", entity_id=conversation_id)
    if sent_id:
        await notify_outbound(request, p.ente_id, sent_id)
    await emit(request.app, p.ente_id, {"type": "conversation", "id": conversation_id})
    return redirect(f"/console/conversations/{conversation_id}", status=303)

"""The operators' inbox and a conversation's page: take, reply, note, transfer, return to the assistant, close."""

from __future__ import annotations

from sanic import Request
from sanic.response import HTTPResponse, redirect

from crm.console.kit import bp, ente_tz, render
from crm.console.session import console_page, context
from crm.contacts import service as contacts
from crm.conversations import commands
from crm.conversations import service as conversations
from crm.conversations.policies import HANDLE
from crm.conversations.models import Conversation
from crm.core.auth import Principal
from crm.core.commands import begin
from crm.core.errors import Forbidden
from crm.db import db_session
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
    async with begin(request) as cx:
        s = cx.session
        conv = await conversations.get(s, ente_id=p.ente_id, conversation_id=conversation_id)
        msgs = await conversations.messages(s, ente_id=p.ente_id, conversation_id=conv.id, include_private=True)
        contact = await contacts.get(s, ente_id=p.ente_id, contact_id=conv.contact_id)
        topics = await offices.list_topics(s, ente_id=p.ente_id)
        await cx.read("read", "conversation", conv.id)
        out = conversations.to_out(conv)
        tz = await ente_tz(s, p.ente_id)
    return render("conversation.html", **context(request, p, conv=out, messages=msgs, contact=contact,
                                                 topics=topics, canned=CANNED, tz=tz))


CANNED = ["Buongiorno, sono un operatore dell'URP: come posso aiutarla?",
          "Le invio il link alla pagina con tutte le informazioni.",
          "Grazie per la pazienza, verifico con l'ufficio competente e le rispondo a breve.",
          "La richiesta è stata registrata. Riceverà un messaggio a ogni aggiornamento.",
          "Grazie a lei, buona giornata!"]


@bp.post("/conversations/<conversation_id:int>/<action:str>")
@console_page(*HANDLE.staff)
async def conversation_action(request: Request, p: Principal, conversation_id: int, action: str) -> HTTPResponse:
    form = request.form or {}
    if action not in ("take", "close", "return", "transfer", "reply", "note"):
        raise Forbidden("azione sconosciuta")
    text = (form.get("text") or "").strip()[:4000]
    async with begin(request, screen="conversation") as cx:
        if action == "take":
            await commands.take(cx, conversation_id=conversation_id)
        elif action == "close":
            await commands.close(cx, conversation_id=conversation_id)
        elif action == "return":
            await commands.return_to_bot(cx, conversation_id=conversation_id)
        elif action == "transfer":
            await commands.transfer(cx, conversation_id=conversation_id, topic=form.get("topic") or None)
        elif text:  # reply or note; an empty form changes nothing
            write = commands.reply if action == "reply" else commands.note
            await write(cx, conversation_id=conversation_id, text=text)
    return redirect(f"/console/conversations/{conversation_id}", status=303)

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from crm.conversations import commands, policies, service
from crm.conversations.models import Conversation
from crm.conversations.schemas import (
    ConversationDetailOut,
    ConversationOut,
    ConversationQuery,
    DeskOut,
    HandoffIn,
    MessageIn,
    MessageOut,
    TransferIn,
    UrpOfficeOut,
)
from crm.core.auth import STAFF, authorized, principal_of
from crm.core.commands import Context, begin
from crm.core.errors import ValidationFailed
from crm.core.http import apply_sort, json_ok, page_params, paginate, parse_body
from crm.core.openapi import openapi
from crm.db import read_session
from crm.offices import service as offices

bp = Blueprint("conversations", url_prefix="/api/v1")
OUTBOUND_SIGNAL = commands.OUTBOUND_SIGNAL


async def _topic_map(s, ente_id: int) -> dict[int, str]:  # type: ignore[no-untyped-def]
    return {t.id: t.slug for t in await offices.list_topics(s, ente_id=ente_id)}


@bp.get("/conversations")
@authorized(*policies.VIEW.roles)
@openapi(
    summary="List conversations: mode=bot|waiting|assigned|closed|open, topic=, assignee=me|<id>, contact_id=",
    response=ConversationOut,
    many=True,
    query=ConversationQuery,
)
async def list_conversations(request: Request) -> HTTPResponse:
    p = principal_of(request)
    page = page_params(request)
    args = request.args
    async with read_session(request) as s:
        topics = await _topic_map(s, p.ente_id)
        topic_id = None
        if args.get("topic"):
            topic_id = (await offices.get_topic_by_slug(s, ente_id=p.ente_id, slug=args.get("topic"))).id
        assignee = args.get("assignee")
        assignee_id = (
            p.operator_id if assignee == "me" else (int(assignee) if assignee and assignee.isdigit() else None)
        )
        contact = args.get("contact_id")
        if contact is not None and not contact.isdigit():
            raise ValidationFailed("contact_id must be an integer", fields={"contact_id": "must be an integer"})
        stmt = service.list_stmt(
            ente_id=p.ente_id,
            mode=args.get("mode"),
            topic_id=topic_id,
            assignee_id=assignee_id,
            contact_id=int(contact) if contact else None,
            channel=args.get("channel"),
        )
        stmt = apply_sort(
            stmt,
            page,
            {
                "last_message_at": Conversation.last_message_at,
                "handoff_at": Conversation.handoff_at,
                "created_at": Conversation.created_at,
            },
            [Conversation.id.desc()],
        )
        result = await paginate(s, stmt, page, lambda c: service.to_out(c, topics.get(c.topic_id or 0)).model_dump())
    return json_ok(result)


@bp.get("/conversations/<conversation_id:int>")
@authorized(*policies.VIEW.roles)
@openapi(summary="A conversation with its messages (internal notes only for staff)", response=ConversationDetailOut)
async def get_conversation(request: Request, conversation_id: int) -> HTTPResponse:
    p = principal_of(request)
    async with begin(request) as cx:
        s = cx.session
        conv = await service.get(s, ente_id=p.ente_id, conversation_id=conversation_id)
        msgs = await service.messages(s, ente_id=p.ente_id, conversation_id=conv.id, include_private=not p.is_service)
        topics = await _topic_map(s, p.ente_id)
        await cx.read("read", "conversation", conv.id)
        body = ConversationDetailOut(
            **service.to_out(conv, topics.get(conv.topic_id or 0)).model_dump(),
            messages=[service.message_out(m) for m in msgs],
        )
    return json_ok(body)


@bp.post("/conversations/<conversation_id:int>/messages")
@authorized(*policies.HANDLE.roles)
@openapi(
    status=201,
    summary="Reply to the citizen (sent on their channel) or add an internal note",
    body=MessageIn,
    response=MessageOut,
)
async def post_message(request: Request, conversation_id: int) -> HTTPResponse:
    data = parse_body(request, MessageIn)
    async with begin(request) as cx:
        write = commands.note if data.private else commands.reply
        out = service.message_out(await write(cx, conversation_id=conversation_id, text=data.text))
    return json_ok(out, status=201)


@bp.get("/desk")
@authorized("service", *STAFF)
@openapi(
    summary="The URP desk now: open (office hours, holidays, patron day), next opening (local time), "
    "conversations waiting for an operator, typical wait in minutes (median of the last 50 taken "
    "in 14 days; null without history), the office hours in Italian and the URP office's name, "
    "phone, e-mail and address (the office coded URP). The assistant asks before handing off and "
    "quotes the phone and hours from here",
    response=DeskOut,
)
async def desk(request: Request) -> HTTPResponse:
    p = principal_of(request)
    async with read_session(request) as s:
        d = await service.desk_status(s, ente_id=p.ente_id)
    return json_ok(
        DeskOut(
            open=d.open,
            next_opening=d.next_opening.isoformat() if d.next_opening else None,
            waiting=d.waiting,
            typical_wait_minutes=d.typical_wait_minutes,
            office_hours=d.office_hours,
            urp=UrpOfficeOut(**d.urp),
        )
    )


async def _out(cx: Context, conv: Conversation) -> ConversationOut:
    topics = await _topic_map(cx.session, cx.ente_id)
    return service.to_out(conv, topics.get(conv.topic_id or 0))


@bp.post("/conversations/<conversation_id:int>/handoff")
@authorized(*policies.HANDOFF.roles)
@openapi(
    summary="Hand the conversation to the operators' queue with the bot's context",
    body=HandoffIn,
    response=ConversationOut,
)
async def handoff(request: Request, conversation_id: int) -> HTTPResponse:
    data = parse_body(request, HandoffIn)
    async with begin(request) as cx:
        conv = await commands.handoff(
            cx, conversation_id=conversation_id, topic=data.topic, summary=data.summary, context=data.context
        )
        out = await _out(cx, conv)
    return json_ok(out)


@bp.post("/conversations/<conversation_id:int>/take")
@authorized(*policies.HANDLE.roles)
@openapi(summary="Take a waiting conversation", response=ConversationOut)
async def take(request: Request, conversation_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        out = await _out(cx, await commands.take(cx, conversation_id=conversation_id))
    return json_ok(out)


@bp.post("/conversations/<conversation_id:int>/transfer")
@authorized(*policies.HANDLE.roles)
@openapi(summary="Transfer to another topic queue or operator", body=TransferIn, response=ConversationOut)
async def transfer(request: Request, conversation_id: int) -> HTTPResponse:
    data = parse_body(request, TransferIn)
    async with begin(request) as cx:
        conv = await commands.transfer(
            cx, conversation_id=conversation_id, topic=data.topic, operator_id=data.operator_id
        )
        out = await _out(cx, conv)
    return json_ok(out)


@bp.post("/conversations/<conversation_id:int>/return-to-bot")
@authorized(*policies.HANDLE.roles)
@openapi(summary="Give the conversation back to the assistant", response=ConversationOut)
async def return_to_bot(request: Request, conversation_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        out = await _out(cx, await commands.return_to_bot(cx, conversation_id=conversation_id))
    return json_ok(out)


@bp.post("/conversations/<conversation_id:int>/close")
@authorized(*policies.CLOSE.roles)
@openapi(summary="Close the conversation; the citizen's next message opens a new one", response=ConversationOut)
async def close(request: Request, conversation_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        out = await _out(cx, await commands.close(cx, conversation_id=conversation_id))
    return json_ok(out)

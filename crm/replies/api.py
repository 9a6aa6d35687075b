"""Quick replies under /api/v1/quick-replies: every operator lists them; admins create, edit and delete them."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from crm.core.auth import authorized, principal_of
from crm.core.commands import begin
from crm.core.errors import ValidationFailed
from crm.core.http import ListOut, json_ok, parse_body
from crm.core.openapi import openapi
from crm.db import read_session
from crm.replies import commands, policies, service
from crm.replies.schemas import QuickReplyDeletedOut, QuickReplyIn, QuickReplyOut, QuickReplyPatch, QuickReplyQuery

bp = Blueprint("replies", url_prefix="/api/v1")
READERS, ADMINS = policies.VIEW.roles, policies.MANAGE.roles


@bp.get("/quick-replies")
@authorized(*READERS)
@openapi(
    summary="List quick replies: q= (shortcut start or title words), topic_id= (that topic's and the general ones)",
    response=QuickReplyOut,
    many="all",
    query=QuickReplyQuery,
)
async def list_replies(request: Request) -> HTTPResponse:
    topic = request.args.get("topic_id") or ""
    if topic and not topic.isdigit():
        raise ValidationFailed("topic_id must be an integer", fields={"topic_id": "must be an integer"})
    q = request.args.get("q") or ""
    if len(q) > 100:
        raise ValidationFailed("q is longer than 100 characters", fields={"q": "too long"})
    async with read_session(request) as s:
        rows = await service.list_(
            s, ente_id=principal_of(request).ente_id, topic_id=int(topic) if topic else None, q=q
        )
        items = [QuickReplyOut.model_validate(r).model_dump() for r in rows]
    return json_ok(ListOut.of(items))


@bp.post("/quick-replies")
@authorized(*ADMINS)
@openapi(status=201, summary="Create a quick reply (admins)", body=QuickReplyIn, response=QuickReplyOut)
async def create_reply(request: Request) -> HTTPResponse:
    data = parse_body(request, QuickReplyIn)
    async with begin(request) as cx:
        out = QuickReplyOut.model_validate(await commands.create(cx, data=data))
    return json_ok(out, status=201)


@bp.get("/quick-replies/<reply_id:int>")
@authorized(*READERS)
@openapi(summary="One quick reply", response=QuickReplyOut)
async def get_reply(request: Request, reply_id: int) -> HTTPResponse:
    async with read_session(request) as s:
        row = await service.get(s, ente_id=principal_of(request).ente_id, reply_id=reply_id)
        out = QuickReplyOut.model_validate(row)
    return json_ok(out)


@bp.patch("/quick-replies/<reply_id:int>")
@authorized(*ADMINS)
@openapi(summary="Edit a quick reply (admins)", body=QuickReplyPatch, response=QuickReplyOut)
async def update_reply(request: Request, reply_id: int) -> HTTPResponse:
    data = parse_body(request, QuickReplyPatch)
    async with begin(request) as cx:
        out = QuickReplyOut.model_validate(await commands.update(cx, reply_id=reply_id, data=data))
    return json_ok(out)


@bp.delete("/quick-replies/<reply_id:int>")
@authorized(*ADMINS)
@openapi(summary="Delete a quick reply (admins)", response=QuickReplyDeletedOut)
async def delete_reply(request: Request, reply_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        await commands.delete(cx, reply_id=reply_id)
    return json_ok(QuickReplyDeletedOut(deleted=reply_id))

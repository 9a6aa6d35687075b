from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from crm.core.auth import authorized, principal_of
from crm.core.commands import begin
from crm.core.http import ListOut, json_ok, parse_body
from crm.core.openapi import openapi
from crm.db import read_session
from crm.offices import commands, policies, service
from crm.offices.schemas import OfficeIn, OfficeOut, TopicIn, TopicOut

bp = Blueprint("offices", url_prefix="/api/v1")
VIEWERS, ADMINS = policies.VIEW.roles, policies.MANAGE.roles


@bp.get("/offices")
@authorized(*VIEWERS)
@openapi(summary="List offices", response=OfficeOut, many="all")
async def list_offices(request: Request) -> HTTPResponse:
    async with read_session(request) as s:
        rows = await service.list_offices(s, ente_id=principal_of(request).ente_id)
        items = [OfficeOut.model_validate(o).model_dump() for o in rows]
    return json_ok(ListOut.of(items))


@bp.post("/offices")
@authorized(*ADMINS)
@openapi(status=201, summary="Create an office", body=OfficeIn, response=OfficeOut)
async def create_office(request: Request) -> HTTPResponse:
    data = parse_body(request, OfficeIn)
    async with begin(request) as cx:
        out = OfficeOut.model_validate(await commands.create_office(cx, data=data))
    return json_ok(out, status=201)


@bp.get("/topics")
@authorized(*VIEWERS)
@openapi(summary="List topics (ambiti)", response=TopicOut, many="all")
async def list_topics(request: Request) -> HTTPResponse:
    async with read_session(request) as s:
        rows = await service.list_topics(s, ente_id=principal_of(request).ente_id)
        items = [TopicOut.model_validate(t).model_dump() for t in rows]
    return json_ok(ListOut.of(items))


@bp.post("/topics")
@authorized(*ADMINS)
@openapi(status=201, summary="Create a topic in an office", body=TopicIn, response=TopicOut)
async def create_topic(request: Request) -> HTTPResponse:
    data = parse_body(request, TopicIn)
    async with begin(request) as cx:
        out = TopicOut.model_validate(await commands.create_topic(cx, data=data))
    return json_ok(out, status=201)

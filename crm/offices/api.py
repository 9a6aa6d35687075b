from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from crm.core.auth import STAFF, authorized, principal_of
from crm.core.http import json_ok, parse_body
from crm.core.openapi import openapi
from crm.db import db_session
from crm.offices import service
from crm.offices.schemas import OfficeIn, OfficeOut, TopicIn, TopicOut

bp = Blueprint("offices", url_prefix="/api/v1")


@bp.get("/offices")
@authorized(*STAFF, "service")
@openapi(summary="List offices", response=OfficeOut, many=True)
async def list_offices(request: Request) -> HTTPResponse:
    async with db_session(request) as s:
        rows = await service.list_offices(s, ente_id=principal_of(request).ente_id)
        items = [OfficeOut.model_validate(o).model_dump() for o in rows]
    return json_ok({"items": items, "total": len(items)})


@bp.post("/offices")
@authorized("admin")
@openapi(summary="Create an office", body=OfficeIn, response=OfficeOut)
async def create_office(request: Request) -> HTTPResponse:
    data = parse_body(request, OfficeIn)
    async with db_session(request) as s:
        office = await service.create_office(s, ente_id=principal_of(request).ente_id, data=data)
        out = OfficeOut.model_validate(office)
    return json_ok(out, status=201)


@bp.get("/topics")
@authorized(*STAFF, "service")
@openapi(summary="List topics (ambiti)", response=TopicOut, many=True)
async def list_topics(request: Request) -> HTTPResponse:
    async with db_session(request) as s:
        rows = await service.list_topics(s, ente_id=principal_of(request).ente_id)
        items = [TopicOut.model_validate(t).model_dump() for t in rows]
    return json_ok({"items": items, "total": len(items)})


@bp.post("/topics")
@authorized("admin")
@openapi(summary="Create a topic in an office", body=TopicIn, response=TopicOut)
async def create_topic(request: Request) -> HTTPResponse:
    data = parse_body(request, TopicIn)
    async with db_session(request) as s:
        topic = await service.create_topic(s, ente_id=principal_of(request).ente_id, data=data)
        out = TopicOut.model_validate(topic)
    return json_ok(out, status=201)

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty

from crm.core import sessions, throttle
from crm.core.auth import STAFF, authorized, principal_of, public
from crm.core.commands import begin
from crm.core.errors import ApiError
from crm.core.http import apply_sort, json_ok, page_params, paginate, parse_body
from crm.core.openapi import openapi
from crm.db import db_session, read_session, write_turn
from crm.operators import commands, policies, service
from crm.operators.models import Operator
from crm.operators.schemas import (
    LoginIn,
    MeOut,
    OperatorIn,
    OperatorOut,
    OperatorPatch,
    OperatorQuery,
    TokenOut,
)

bp = Blueprint("operators", url_prefix="/api/v1")


@bp.post("/auth/login")
@public
@openapi(summary="Exchange username and password for a bearer token", body=LoginIn, response=TokenOut)
async def login(request: Request) -> HTTPResponse:
    """401 for any wrong pair (unknown, disabled or wrong password alike); 429 with Retry-After while the attempt
    is throttled. The token names a server-side session: ``POST /auth/logout`` ends it."""
    data = parse_body(request, LoginIn)
    settings = request.app.ctx.settings
    attempt = throttle.attempt_from(request, realm=service.REALM, account=data.username)
    maker = request.app.ctx.sessionmaker
    async with write_turn(maker), maker() as s:
        try:
            op = await service.authenticate(
                s, username=data.username, password=data.password, attempt=attempt, policy=service.policy(settings)
            )
        except ApiError:
            await s.commit()  # keep the failure count
            raise
        token = await service.start_session(
            s, op, secret=settings.secret_key.get_secret_value(), ttl_minutes=settings.token_ttl_minutes
        )
        out = TokenOut(access_token=token, expires_in=settings.token_ttl_minutes * 60, role=op.role)
        await s.commit()
    resp = json_ok(out)
    throttle.remember_device(resp, request, attempt)
    return resp


@bp.post("/auth/logout")
@authorized(*STAFF)
@openapi(status=204, summary="End the caller's session: its bearer token (and console cookie) stop working")
async def logout(request: Request) -> HTTPResponse:
    p = principal_of(request)
    async with db_session(request) as s:
        if p.session_id is not None:
            await sessions.revoke(s, p.session_id)
    return empty()


@bp.get("/auth/me")
@authorized()
@openapi(summary="The calling principal", response=MeOut)
async def me(request: Request) -> HTTPResponse:
    p = principal_of(request)
    return json_ok(MeOut(ente_id=p.ente_id, role=p.role, operator_id=p.operator_id, username=p.username))


@bp.get("/operators")
@authorized(*policies.VIEW.roles)
@openapi(summary="List operators of the ente", response=OperatorOut, many=True, query=OperatorQuery)
async def list_operators(request: Request) -> HTTPResponse:
    page = page_params(request)
    stmt = apply_sort(
        service.list_stmt(ente_id=principal_of(request).ente_id, role=request.args.get("role")),
        page,
        {"username": Operator.username, "role": Operator.role},
        [Operator.username],
    )
    async with read_session(request) as s:
        return json_ok(await paginate(s, stmt, page, lambda o: service.to_out(o).model_dump()))


@bp.post("/operators")
@authorized(*policies.MANAGE.roles)
@openapi(status=201, summary="Create an operator", body=OperatorIn, response=OperatorOut)
async def create_operator(request: Request) -> HTTPResponse:
    data = parse_body(request, OperatorIn)
    async with begin(request) as cx:
        out = service.to_out(await commands.create(cx, data=data))
    return json_ok(out, status=201)


@bp.patch("/operators/<operator_id:int>")
@authorized(*policies.MANAGE.roles)
@openapi(
    summary="Change an operator (role, topics, active, password); 409 for one's own admin role or account",
    body=OperatorPatch,
    response=OperatorOut,
)
async def update_operator(request: Request, operator_id: int) -> HTTPResponse:
    data = parse_body(request, OperatorPatch)
    async with begin(request) as cx:
        out = service.to_out(await commands.update(cx, operator_id=operator_id, data=data))
    return json_ok(out)

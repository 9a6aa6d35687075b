from __future__ import annotations

from datetime import datetime

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from crm.core.auth import STAFF, authorized, principal_of
from crm.core.commands import begin
from crm.core.errors import ValidationFailed
from crm.core.http import apply_sort, json_ok, page_params, paginate, parse_body
from crm.core.openapi import openapi
from crm.db import read_session
from crm.offices import service as offices
from crm.tickets import commands, policies, service
from crm.tickets.models import Ticket
from crm.tickets.schemas import (
    AssignIn,
    NoteIn,
    PriorityIn,
    SlaOut,
    SlaQuery,
    TicketIn,
    TicketOut,
    TicketQuery,
    TransitionIn,
)

bp = Blueprint("tickets", url_prefix="/api/v1")


async def _render(s, t: Ticket, *, with_events: bool = False) -> TicketOut:  # type: ignore[no-untyped-def]
    slug = None
    if t.topic_id:
        slug = (await offices.get_topic(s, ente_id=t.ente_id, topic_id=t.topic_id)).slug
    if with_events:
        await service.load_events(s, t)
    return service.to_out(t, slug, with_events=with_events)


def _int_arg(request: Request, name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if name == "assignee_id" and raw == "me":
        return principal_of(request).operator_id
    if not raw.isdigit():
        raise ValidationFailed(f"{name} must be an integer", fields={name: "must be an integer"})
    return int(raw)


@bp.get("/requests")
@authorized(*policies.VIEW.roles)
@openapi(
    summary="List requests: status=, priority=, kind=, channel=, contact_id=, assignee_id=(id|me), topic=, "
    "open=1, breached=1, q=; sort=created_at|due_at|priority",
    response=TicketOut,
    many=True,
    query=TicketQuery,
)
async def list_requests(request: Request) -> HTTPResponse:
    p = principal_of(request)
    page = page_params(request)
    async with read_session(request) as s:
        topic_id = None
        if request.args.get("topic"):
            topic_id = (await offices.get_topic_by_slug(s, ente_id=p.ente_id, slug=request.args.get("topic"))).id
        filters = {
            "status": request.args.get("status"),
            "priority": request.args.get("priority"),
            "kind": request.args.get("kind"),
            "channel": request.args.get("channel"),
            "contact_id": _int_arg(request, "contact_id"),
            "assignee_id": _int_arg(request, "assignee_id"),
            "topic_id": topic_id,
            "open": request.args.get("open") in ("1", "true"),
            "breached": request.args.get("breached") in ("1", "true"),
            "q": request.args.get("q"),
        }
        stmt = apply_sort(
            service.list_stmt(ente_id=p.ente_id, filters=filters),
            page,
            {
                "created_at": Ticket.created_at,
                "due_at": Ticket.due_at,
                "priority": Ticket.priority,
                "status": Ticket.status,
            },
            [Ticket.id.desc()],
        )
        topics = {t.id: t.slug for t in await offices.list_topics(s, ente_id=p.ente_id)}
        result = await paginate(s, stmt, page, lambda t: service.to_out(t, topics.get(t.topic_id or 0)).model_dump())
    return json_ok(result)


@bp.post("/requests")
@authorized(*policies.OPEN.roles)
@openapi(
    status=201,
    summary="Open a request (auto-assigned to the least-loaded competent operator)",
    body=TicketIn,
    response=TicketOut,
)
async def create_request(request: Request) -> HTTPResponse:
    data = parse_body(request, TicketIn)
    async with begin(request) as cx:
        t = await commands.open_request(cx, data=data)
        out = await _render(cx.session, t)
    return json_ok(out, status=201)


@bp.get("/requests/sla")
@authorized(*STAFF)
@openapi(
    summary="SLA compliance per priority (take-in-charge within 8/12/16 working hours, target 90%)",
    response=SlaOut,
    query=SlaQuery,
)
async def sla(request: Request) -> HTTPResponse:
    since = request.args.get("since")
    try:
        since_dt = datetime.fromisoformat(since) if since else None
    except ValueError:
        raise ValidationFailed("since must be an ISO date-time", fields={"since": "invalid"}) from None
    if since_dt is not None and since_dt.tzinfo is None:
        raise ValidationFailed("since needs a time zone offset", fields={"since": "time zone required"})
    async with read_session(request) as s:
        report = await service.sla_report(s, ente_id=principal_of(request).ente_id, since=since_dt)
    return json_ok(SlaOut.model_validate(report))


@bp.get("/requests/<ticket_id:int>")
@authorized(*policies.VIEW.roles)
@openapi(summary="A request with its history", response=TicketOut)
async def get_request(request: Request, ticket_id: int) -> HTTPResponse:
    async with read_session(request) as s:
        t = await service.get(s, ente_id=principal_of(request).ente_id, ticket_id=ticket_id)
        out = await _render(s, t, with_events=True)
    return json_ok(out)


@bp.post("/requests/<ticket_id:int>/transition")
@authorized(*policies.HANDLE.roles)
@openapi(summary="Change status (409 for an illegal transition)", body=TransitionIn, response=TicketOut)
async def transition(request: Request, ticket_id: int) -> HTTPResponse:
    data = parse_body(request, TransitionIn)
    async with begin(request) as cx:
        t = await commands.transition(cx, ticket_id=ticket_id, to=data.to, note=data.note)
        out = await _render(cx.session, t, with_events=True)
    return json_ok(out)


@bp.post("/requests/<ticket_id:int>/assign")
@authorized(*policies.HANDLE.roles)
@openapi(summary="Assign to an operator (null to unassign)", body=AssignIn, response=TicketOut)
async def assign(request: Request, ticket_id: int) -> HTTPResponse:
    data = parse_body(request, AssignIn)
    async with begin(request) as cx:
        t = await commands.assign(cx, ticket_id=ticket_id, operator_id=data.operator_id)
        out = await _render(cx.session, t, with_events=True)
    return json_ok(out)


@bp.post("/requests/<ticket_id:int>/priority")
@authorized(*policies.HANDLE.roles)
@openapi(summary="Change priority (recomputes the SLA due time)", body=PriorityIn, response=TicketOut)
async def priority(request: Request, ticket_id: int) -> HTTPResponse:
    data = parse_body(request, PriorityIn)
    async with begin(request) as cx:
        t = await commands.set_priority(cx, ticket_id=ticket_id, priority=data.priority, note=data.note)
        out = await _render(cx.session, t, with_events=True)
    return json_ok(out)


@bp.post("/requests/<ticket_id:int>/notes")
@authorized(*policies.HANDLE.roles)
@openapi(summary="Add an internal note", body=NoteIn, response=TicketOut)
async def note(request: Request, ticket_id: int) -> HTTPResponse:
    data = parse_body(request, NoteIn)
    async with begin(request) as cx:
        t = await commands.add_note(cx, ticket_id=ticket_id, note=data.note)
        out = await _render(cx.session, t, with_events=True)
    return json_ok(out)

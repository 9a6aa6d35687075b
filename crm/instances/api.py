from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw
from sqlalchemy import select

from crm.contacts.models import Contact
from crm.core import lookup as citizen_lookup
from crm.core.auth import authorized, principal_of
from crm.core.commands import begin
from crm.core.errors import Forbidden, NotFound, ValidationFailed
from crm.core.http import ListOut, apply_sort, json_ok, page_params, paginate, parse_body, parse_query
from crm.core.openapi import openapi
from crm.db import read_session
from crm.entes import service as entes
from crm.instances import commands, policies, receipt, service
from crm.instances.models import Attachment, Instance, InstanceType
from crm.instances.schemas import (
    AttachmentOut,
    IncludeInactiveQuery,
    InstanceEventOut,
    InstanceIn,
    InstanceLookupOut,
    InstanceOut,
    InstanceQuery,
    InstanceTypeIn,
    InstanceTypeOut,
    InstanceTypePatch,
    ReferenceItemIn,
    ReferenceItemOut,
    ReferenceItemPatch,
    TransitionIn,
)

bp = Blueprint("instances", url_prefix="/api/v1")
VIEWERS, ADMINS = policies.VIEW.roles, policies.MANAGE.roles
LIST_SLUG = re.compile(r"^[a-z0-9-]{2,80}$")
LOOKUP_NOT_FOUND = "no istanza matches this code and second factor"


def _list_slug(list_slug: str) -> str:
    if not LIST_SLUG.match(list_slug):
        raise ValidationFailed(
            "a list name has 2-80 lowercase letters, digits or dashes", fields={"list": "invalid list name"}
        )
    return list_slug


def _value(raw: str) -> str:
    """Reference values are free text (spaces, accents) and arrive percent-encoded: Sanic does not decode path
    parameters, and its ``unquote=True`` route flag is applied per router-tree node, not per route (it would not
    reach this parameter and could reach unrelated routes), so we decode here, exactly once."""
    return unquote(raw)


def _include_inactive(request: Request) -> bool:
    """``?include_inactive=true`` is for admins (403 for other roles)."""
    wanted = parse_query(request, IncludeInactiveQuery).include_inactive
    if wanted and principal_of(request).role != "admin":
        raise Forbidden("only admins see deactivated entries")
    return wanted


def _store(request: Request) -> service.FileStore:
    settings = request.app.ctx.settings
    return service.FileStore(root=Path(settings.var_dir) / "attachments", max_bytes=settings.attachments_max_bytes)


async def _slug(s: Any, type_id: int) -> str | None:
    t = await s.get(InstanceType, type_id)
    return t.slug if t else None


@bp.get("/instance-types")
@authorized(*VIEWERS)
@openapi(
    summary="Instance types of the ente, with their form (JSON Schema); admins: include_inactive=true",
    query=IncludeInactiveQuery,
    response=InstanceTypeOut,
    many="all",
)
async def list_types(request: Request) -> HTTPResponse:
    include_inactive = _include_inactive(request)
    async with read_session(request) as s:
        items = [
            InstanceTypeOut.model_validate(t)
            for t in await service.list_types(
                s, ente_id=principal_of(request).ente_id, include_inactive=include_inactive
            )
        ]
    return json_ok(ListOut.of(items))


@bp.post("/instance-types")
@authorized(*ADMINS)
@openapi(
    status=201,
    summary="Create an instance type (admins; 409 if the slug exists)",
    body=InstanceTypeIn,
    response=InstanceTypeOut,
)
async def create_type(request: Request) -> HTTPResponse:
    data = parse_body(request, InstanceTypeIn)
    async with begin(request) as cx:
        out = InstanceTypeOut.model_validate(await commands.create_type(cx, data=data))
    return json_ok(out, status=201)


@bp.patch("/instance-types/<slug:str>")
@authorized(*ADMINS)
@openapi(
    summary="Change an instance type (admins; partial; form_schema must be a valid JSON Schema; "
    "active=true reactivates)",
    body=InstanceTypePatch,
    response=InstanceTypeOut,
)
async def update_type(request: Request, slug: str) -> HTTPResponse:
    data = parse_body(request, InstanceTypePatch)
    async with begin(request) as cx:
        t, _ = await commands.update_type(cx, slug=slug, data=data)
        out = InstanceTypeOut.model_validate(t)
    return json_ok(out)


@bp.delete("/instance-types/<slug:str>")
@authorized(*ADMINS)
@openapi(
    summary="Deactivate an instance type (admins): no new submissions, existing istanze keep it",
    response=InstanceTypeOut,
)
async def deactivate_type(request: Request, slug: str) -> HTTPResponse:
    async with begin(request) as cx:
        out = InstanceTypeOut.model_validate(await commands.deactivate_type(cx, slug=slug))
    return json_ok(out)


@bp.get("/reference-lists/<list_slug:str>")
@authorized(*VIEWERS)
@openapi(
    summary="Entries of a reference list (e.g. albo-associazioni); admins: include_inactive=true",
    query=IncludeInactiveQuery,
    response=ReferenceItemOut,
    many="all",
)
async def reference_list(request: Request, list_slug: str) -> HTTPResponse:
    include_inactive = _include_inactive(request)
    async with read_session(request) as s:
        rows = await service.reference_items(
            s, ente_id=principal_of(request).ente_id, list_slug=list_slug, include_inactive=include_inactive
        )
        items = [ReferenceItemOut.of(list_slug, r) for r in rows]
    return json_ok(ListOut.of(items))


@bp.post("/reference-lists/<list_slug:str>")
@authorized(*ADMINS)
@openapi(
    status=201,
    summary="Add an entry to a reference list (admins; 409 if the value exists, even deactivated)",
    body=ReferenceItemIn,
    response=ReferenceItemOut,
)
async def add_reference(request: Request, list_slug: str) -> HTTPResponse:
    data = parse_body(request, ReferenceItemIn)
    async with begin(request) as cx:
        item = await commands.add_reference(cx, list_slug=_list_slug(list_slug), data=data)
        out = ReferenceItemOut.of(list_slug, item)
    return json_ok(out, status=201)


@bp.patch("/reference-lists/<list_slug:str>/<value:str>")
@authorized(*ADMINS)
@openapi(
    summary="Change an entry of a reference list (admins): label, active",
    body=ReferenceItemPatch,
    response=ReferenceItemOut,
)
async def update_reference(request: Request, list_slug: str, value: str) -> HTTPResponse:
    data = parse_body(request, ReferenceItemPatch)
    async with begin(request) as cx:
        item, _ = await commands.update_reference(cx, list_slug=_list_slug(list_slug), value=_value(value), data=data)
        out = ReferenceItemOut.of(list_slug, item)
    return json_ok(out)


@bp.delete("/reference-lists/<list_slug:str>/<value:str>")
@authorized(*ADMINS)
@openapi(
    summary="Deactivate an entry of a reference list (admins): no longer offered nor accepted",
    response=ReferenceItemOut,
)
async def deactivate_reference(request: Request, list_slug: str, value: str) -> HTTPResponse:
    async with begin(request) as cx:
        item = await commands.deactivate_reference(cx, list_slug=_list_slug(list_slug), value=_value(value))
        out = ReferenceItemOut.of(list_slug, item)
    return json_ok(out)


@bp.post("/instances")
@authorized(*policies.SUBMIT.roles)
@openapi(
    status=201,
    summary="Submit an istanza with its attachments (base64; PDF/JPEG/PNG/WebP, size-limited; every kind in the "
    "type's required_attachments): 201 {id, code, status, protocol_number?, attachments}; 422 naming "
    "each invalid field or missing kind (attachments.<kind>); nothing is stored on error",
    body=InstanceIn,
    response=InstanceOut,
)
async def submit(request: Request) -> HTTPResponse:
    data = parse_body(request, InstanceIn)
    store = _store(request)
    try:
        async with begin(request) as cx:
            inst = await commands.submit(cx, data=data, adapter=request.app.ctx.protocol, store=store)
            atts = (
                await cx.session.scalars(
                    select(Attachment).where(Attachment.instance_id == inst.id).order_by(Attachment.id)
                )
            ).all()
            out = InstanceOut.of(inst, data.type)
            out.attachments = [AttachmentOut.model_validate(a) for a in atts]
    except BaseException:
        store.discard()  # the transaction rolled back: no file without its rows
        raise
    return json_ok(out, status=201)


@bp.get("/instances")
@authorized(*VIEWERS)
@openapi(
    summary="List istanze: contact_id=, status=, type= (slug)", response=InstanceOut, many=True, query=InstanceQuery
)
async def list_instances(request: Request) -> HTTPResponse:
    p = principal_of(request)
    page = page_params(request)
    contact = request.args.get("contact_id")
    if contact is not None and not contact.isdigit():
        raise ValidationFailed("contact_id must be an integer", fields={"contact_id": "must be an integer"})
    async with read_session(request) as s:
        type_id = None
        if request.args.get("type"):
            type_id = (
                await service.get_type(s, ente_id=p.ente_id, slug=request.args.get("type"), include_inactive=True)
            ).id
        stmt = service.list_stmt(
            ente_id=p.ente_id,
            contact_id=int(contact) if contact else None,
            status=request.args.get("status"),
            type_id=type_id,
        )
        stmt = apply_sort(
            stmt, page, {"created_at": Instance.created_at, "deadline_at": Instance.deadline_at}, [Instance.id.desc()]
        )
        # deactivated types included: existing istanze keep their type
        slugs = {t.id: t.slug for t in await service.list_types(s, ente_id=p.ente_id, include_inactive=True)}
        return json_ok(await paginate(s, stmt, page, lambda i: InstanceOut.of(i, slugs.get(i.type_id))))


@bp.get("/instances/<instance_id:int>")
@authorized(*VIEWERS)
@openapi(summary="An istanza with its history", response=InstanceOut)
async def get_instance(request: Request, instance_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        s = cx.session
        inst = await commands.read(cx, instance_id=instance_id)
        body = InstanceOut.of(inst, await _slug(s, inst.type_id))
        body.events = [
            InstanceEventOut(
                at=e.at.isoformat(),
                actor_kind=e.actor_kind,
                actor_name=e.actor_name,
                from_=e.from_status,
                to=e.to_status,
                note=e.note,
            )
            for e in await service.events(s, inst)
        ]
        atts = (
            await s.scalars(select(Attachment).where(Attachment.instance_id == inst.id).order_by(Attachment.id))
        ).all()
        body.attachments = [AttachmentOut.model_validate(a) for a in atts]
    return json_ok(body)


@bp.post("/instances/<instance_id:int>/transition")
@authorized(*policies.WITHDRAW.roles)
@openapi(
    summary="Change status (409 if illegal); the citizen is notified. Only the office decides (403 for "
    "others); whoever files for a citizen may withdraw",
    body=TransitionIn,
    response=InstanceOut,
)
async def transition(request: Request, instance_id: int) -> HTTPResponse:
    data = parse_body(request, TransitionIn)
    async with begin(request) as cx:
        inst = await commands.transition(cx, instance_id=instance_id, to=data.to, note=data.note)
        out = InstanceOut.of(inst, await _slug(cx.session, inst.type_id))
    return json_ok(out)


@bp.post("/instances/<instance_id:int>/attachments")
@authorized(*policies.ATTACH.roles)
@openapi(
    status=201,
    summary="Add an attachment to an open istanza, e.g. an integration (multipart field 'file', optional "
    "'kind'; PDF/JPEG/PNG/WebP; size limited; checksum recorded)",
    response=AttachmentOut,
)
async def upload(request: Request, instance_id: int) -> HTTPResponse:
    f = request.files.get("file") if request.files else None
    if f is None:
        raise ValidationFailed("multipart field 'file' is required", fields={"file": "required"})
    store = _store(request)
    try:
        async with begin(request) as cx:
            att = await commands.add_attachment(
                cx,
                instance_id=instance_id,
                kind=request.form.get("kind", "") if request.form else "",
                filename=f.name or "allegato",
                content_type=f.type,
                body=f.body,
                store=store,
            )
            out = AttachmentOut.model_validate(att)
    except BaseException:
        store.discard()
        raise
    return json_ok(out, status=201)


@bp.get("/instances/<instance_id:int>/attachments/<attachment_id:int>")
@authorized(*VIEWERS)
@openapi(summary="Download an attachment", media=tuple(sorted(service.ALLOWED_TYPES)))
async def download(request: Request, instance_id: int, attachment_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        await service.get(cx.session, ente_id=cx.ente_id, instance_id=instance_id)
        att = await cx.session.scalar(
            select(Attachment).where(Attachment.id == attachment_id, Attachment.instance_id == instance_id)
        )
        if att is None:
            raise NotFound("attachment not found")
        await cx.read("read", "attachment", att.id)
    path = Path(request.app.ctx.settings.var_dir) / "attachments" / att.storage_key
    if not path.is_file():  # erased with its citizen's data (the row stays for the istanza's record)
        raise NotFound("the attachment's file was erased")
    body = path.read_bytes()
    return raw(
        body, content_type=att.content_type, headers={"Content-Disposition": f'attachment; filename="{att.filename}"'}
    )


@bp.get("/instances/<instance_id:int>/receipt.pdf")
@authorized(*VIEWERS)
@openapi(summary="The citizen's receipt as PDF", media=("application/pdf",))
async def receipt_pdf(request: Request, instance_id: int) -> HTTPResponse:
    p = principal_of(request)
    async with read_session(request) as s:
        inst = await service.get(s, ente_id=p.ente_id, instance_id=instance_id)
        t = await s.get(InstanceType, inst.type_id)
        contact = await s.get(Contact, inst.contact_id)
        ente = await entes.get(s, p.ente_id)
    pdf = receipt.render(
        ente_name=ente.name,
        title=t.title if t else "",
        inst=inst,
        contact_name=contact.display_name if contact else "",
        tz=ente.timezone,
        schema=t.form_schema if t else None,
    )
    return raw(
        pdf,
        content_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="ricevuta-{inst.code}.pdf"'},
    )


@bp.post("/instances/lookup")
@authorized(*policies.LOOKUP.roles)
@openapi(
    summary="Citizen status look-up: code + second factor (phone digits or fiscal code). Failures are "
    "throttled across replicas per code (5 / 15 min) and, with an X-Citizen-Key header (e.g. the "
    "bot's sender id), per caller (20 / 15 min): 429 with Retry-After",
    body=citizen_lookup.LookupIn,
    response=InstanceLookupOut,
)
async def lookup(request: Request) -> HTTPResponse:
    data = parse_body(request, citizen_lookup.LookupIn)
    found = None
    async with begin(request) as cx:
        s = cx.session
        inst = await commands.lookup(
            cx, code=data.code, second_factor=data.second_factor, caller=citizen_lookup.caller_of(request.headers)
        )
        if inst is not None:
            t = await s.get(InstanceType, inst.type_id)
            tz = await entes.timezone(s, cx.ente_id)
            found = InstanceLookupOut(
                code=inst.code,
                type=t.title if t else "",
                status=inst.status,
                protocol_number=inst.protocol_number,
                deadline=inst.deadline_at.astimezone(tz).date().isoformat() if inst.deadline_at else None,
            )
    if found is None:
        raise NotFound(LOOKUP_NOT_FOUND)
    return json_ok(found)

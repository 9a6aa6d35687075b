from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw
from sqlalchemy import select

from crm.audit import service as audit
from crm.contacts.models import Contact
from crm.core.auth import STAFF, authorized, principal_of
from crm.core.errors import NotFound, TooManyRequests, ValidationFailed
from crm.core.http import apply_sort, json_ok, page_params, paginate, parse_body
from crm.core.openapi import openapi
from crm.db import db_session
from crm.entes import service as entes
from crm.instances import receipt, service
from crm.instances.models import Attachment, Instance, InstanceType, ReferenceItem
from crm.instances.schemas import InstanceIn, InstanceTypeIn, LookupIn, ReferenceItemIn, TransitionIn

bp = Blueprint("instances", url_prefix="/api/v1")
SUBMITTERS = ("admin", "operator", "phone_operator", "backoffice", "service")
HANDLERS = ("admin", "backoffice", "operator")
_lookup_failures: dict[str, list[float]] = {}


def type_out(t: InstanceType) -> dict[str, Any]:
    return {"id": t.id, "slug": t.slug, "title": t.title, "description": t.description, "office_id": t.office_id,
            "topic": t.topic, "form_schema": t.form_schema, "required_attachments": t.required_attachments,
            "verified_identity_required": t.verified_identity_required, "deadline_days": t.deadline_days}


def inst_out(i: Instance, type_slug: str | None = None) -> dict[str, Any]:
    return {"id": i.id, "code": i.code, "type_id": i.type_id, "type": type_slug, "contact_id": i.contact_id,
            "data": i.data, "status": i.status, "protocol_number": i.protocol_number,
            "protocolled_at": i.protocolled_at.isoformat() if i.protocolled_at else None,
            "deadline_at": i.deadline_at.isoformat() if i.deadline_at else None,
            "clock_paused": i.paused_at is not None, "on_behalf": i.on_behalf, "created_by_kind": i.created_by_kind,
            "created_by_operator_id": i.created_by_operator_id, "created_at": i.created_at.isoformat()}


async def _slug(s: Any, type_id: int) -> str | None:
    t = await s.get(InstanceType, type_id)
    return t.slug if t else None


@bp.get("/instance-types")
@authorized(*STAFF, "service")
@openapi(summary="Instance types of the ente, with their form (JSON Schema)")
async def list_types(request: Request) -> HTTPResponse:
    async with db_session(request) as s:
        items = [type_out(t) for t in await service.list_types(s, ente_id=principal_of(request).ente_id)]
    return json_ok({"items": items, "total": len(items)})


@bp.post("/instance-types")
@authorized("admin")
@openapi(summary="Create an instance type (admins)", body=InstanceTypeIn)
async def create_type(request: Request) -> HTTPResponse:
    data = parse_body(request, InstanceTypeIn)
    async with db_session(request) as s:
        t = await service.create_type(s, ente_id=principal_of(request).ente_id, data=data)
        return json_ok(type_out(t), status=201)


@bp.get("/reference-lists/<list_slug:str>")
@authorized(*STAFF, "service")
@openapi(summary="Entries of a reference list (e.g. albo-associazioni)")
async def reference_list(request: Request, list_slug: str) -> HTTPResponse:
    async with db_session(request) as s:
        rows = (await s.scalars(select(ReferenceItem).where(ReferenceItem.ente_id == principal_of(request).ente_id,
                                                            ReferenceItem.list_slug == list_slug,
                                                            ReferenceItem.active.is_(True)))).all()
    return json_ok({"items": [{"value": r.value, "label": r.label} for r in rows], "total": len(rows)})


@bp.post("/reference-lists/<list_slug:str>")
@authorized("admin")
@openapi(summary="Add an entry to a reference list", body=ReferenceItemIn)
async def add_reference(request: Request, list_slug: str) -> HTTPResponse:
    data = parse_body(request, ReferenceItemIn)
    async with db_session(request) as s:
        s.add(ReferenceItem(ente_id=principal_of(request).ente_id, list_slug=list_slug, **data.model_dump()))
    return json_ok({"list": list_slug, **data.model_dump()}, status=201)


@bp.post("/instances")
@authorized(*SUBMITTERS)
@openapi(summary="Submit an istanza: 201 {id, code, status, protocol_number?}; 422 naming the invalid field",
         body=InstanceIn)
async def submit(request: Request) -> HTTPResponse:
    data = parse_body(request, InstanceIn)
    p = principal_of(request)
    async with db_session(request) as s:
        inst = await service.submit(s, principal=p, data=data, adapter=request.app.ctx.protocol)
        await audit.record(s, principal=p, action="create", entity="instance", entity_id=inst.id,
                           details={"contact_id": inst.contact_id, "on_behalf": inst.on_behalf})
        return json_ok(inst_out(inst, data.type), status=201)


@bp.get("/instances")
@authorized(*STAFF, "service")
@openapi(summary="List istanze: contact_id=, status=, type= (slug)")
async def list_instances(request: Request) -> HTTPResponse:
    p = principal_of(request)
    page = page_params(request)
    contact = request.args.get("contact_id")
    if contact is not None and not contact.isdigit():
        raise ValidationFailed("contact_id must be an integer", fields={"contact_id": "must be an integer"})
    async with db_session(request) as s:
        type_id = None
        if request.args.get("type"):
            type_id = (await service.get_type(s, ente_id=p.ente_id, slug=request.args.get("type"))).id
        stmt = service.list_stmt(ente_id=p.ente_id, contact_id=int(contact) if contact else None,
                                 status=request.args.get("status"), type_id=type_id)
        stmt = apply_sort(stmt, page, {"created_at": Instance.created_at, "deadline_at": Instance.deadline_at},
                          [Instance.id.desc()])
        slugs = {t.id: t.slug for t in await service.list_types(s, ente_id=p.ente_id)}
        return json_ok(await paginate(s, stmt, page, lambda i: inst_out(i, slugs.get(i.type_id))))


@bp.get("/instances/<instance_id:int>")
@authorized(*STAFF, "service")
@openapi(summary="An istanza with its history")
async def get_instance(request: Request, instance_id: int) -> HTTPResponse:
    p = principal_of(request)
    async with db_session(request) as s:
        inst = await service.get(s, ente_id=p.ente_id, instance_id=instance_id)
        body = inst_out(inst, await _slug(s, inst.type_id))
        body["events"] = [{"at": e.at.isoformat(), "actor_kind": e.actor_kind, "actor_name": e.actor_name,
                           "from": e.from_status, "to": e.to_status, "note": e.note}
                          for e in await service.events(s, inst)]
        atts = (await s.scalars(select(Attachment).where(Attachment.instance_id == inst.id))).all()
        body["attachments"] = [{"id": a.id, "filename": a.filename, "size": a.size, "sha256": a.sha256,
                                "content_type": a.content_type, "kind": a.kind} for a in atts]
        await audit.record(s, principal=p, action="read", entity="instance", entity_id=inst.id)
    return json_ok(body)


@bp.post("/instances/<instance_id:int>/transition")
@authorized(*HANDLERS, "service", "phone_operator")
@openapi(summary="Change status (409 if illegal); the citizen is notified", body=TransitionIn)
async def transition(request: Request, instance_id: int) -> HTTPResponse:
    data = parse_body(request, TransitionIn)
    p = principal_of(request)
    if data.to != "withdrawn" and p.role in ("service", "phone_operator"):
        raise ValidationFailed("only the office decides; citizens may withdraw", fields={"to": "not allowed"})
    async with db_session(request) as s:
        inst = await service.transition(s, principal=p, instance_id=instance_id, to=data.to, note=data.note)
        return json_ok(inst_out(inst, await _slug(s, inst.type_id)))


@bp.post("/instances/<instance_id:int>/attachments")
@authorized(*SUBMITTERS)
@openapi(summary="Upload an attachment (multipart field 'file'; PDF/JPEG/PNG; size limited; checksum recorded)")
async def upload(request: Request, instance_id: int) -> HTTPResponse:
    f = request.files.get("file") if request.files else None
    if f is None:
        raise ValidationFailed("multipart field 'file' is required", fields={"file": "required"})
    settings = request.app.ctx.settings
    async with db_session(request) as s:
        att = await service.add_attachment(s, ente_id=principal_of(request).ente_id, instance_id=instance_id,
                                           kind=request.form.get("kind", "") if request.form else "",
                                           filename=f.name or "allegato", content_type=f.type, body=f.body,
                                           root=Path(settings.var_dir) / "attachments",
                                           max_bytes=settings.attachments_max_bytes)
        return json_ok({"id": att.id, "filename": att.filename, "size": att.size, "sha256": att.sha256}, status=201)


@bp.get("/instances/<instance_id:int>/attachments/<attachment_id:int>")
@authorized(*STAFF, "service")
@openapi(summary="Download an attachment")
async def download(request: Request, instance_id: int, attachment_id: int) -> HTTPResponse:
    p = principal_of(request)
    async with db_session(request) as s:
        await service.get(s, ente_id=p.ente_id, instance_id=instance_id)
        att = await s.scalar(select(Attachment).where(Attachment.id == attachment_id,
                                                      Attachment.instance_id == instance_id))
        if att is None:
            raise NotFound("attachment not found")
        await audit.record(s, principal=p, action="read", entity="attachment", entity_id=att.id)
    body = (Path(request.app.ctx.settings.var_dir) / "attachments" / att.storage_key).read_bytes()
    return raw(body, content_type=att.content_type,
               headers={"Content-Disposition": f'attachment; filename="{att.filename}"'})


@bp.get("/instances/<instance_id:int>/receipt.pdf")
@authorized(*STAFF, "service")
@openapi(summary="The citizen's receipt as PDF")
async def receipt_pdf(request: Request, instance_id: int) -> HTTPResponse:
    p = principal_of(request)
    async with db_session(request) as s:
        inst = await service.get(s, ente_id=p.ente_id, instance_id=instance_id)
        t = await s.get(InstanceType, inst.type_id)
        contact = await s.get(Contact, inst.contact_id)
        ente = await entes.get(s, p.ente_id)
    pdf = receipt.render(ente_name=ente.name, title=t.title if t else "", inst=inst,
                         contact_name=contact.display_name if contact else "", tz=ente.timezone)
    return raw(pdf, content_type="application/pdf",
               headers={"Content-Disposition": f'inline; filename="ricevuta-{inst.code}.pdf"'})


@bp.post("/instances/lookup")
@authorized("service", *STAFF)
@openapi(summary="Citizen status look-up: code + second factor (phone digits or fiscal code); throttled",
         body=LookupIn)
async def lookup(request: Request, ) -> HTTPResponse:
    import time

    data = parse_body(request, LookupIn)
    p = principal_of(request)
    key = f"{p.ente_id}:{data.code.upper()}"
    recent = [t for t in _lookup_failures.get(key, []) if time.monotonic() - t < 900]
    if len(recent) >= 5:
        raise TooManyRequests("too many attempts for this code; try again later")
    async with db_session(request) as s:
        try:
            inst = await service.lookup(s, ente_id=p.ente_id, code=data.code, factor=data.second_factor)
        except NotFound:
            _lookup_failures[key] = [*recent, time.monotonic()]
            raise
        t = await s.get(InstanceType, inst.type_id)
        tz = ZoneInfo((await entes.get(s, p.ente_id)).timezone)
    return json_ok({"code": inst.code, "type": t.title if t else "", "status": inst.status,
                    "protocol_number": inst.protocol_number,
                    "deadline": inst.deadline_at.astimezone(tz).date().isoformat() if inst.deadline_at else None})

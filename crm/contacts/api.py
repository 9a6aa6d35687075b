from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from crm.audit import service as audit
from crm.contacts import service
from crm.contacts.models import Contact
from crm.contacts.schemas import ContactIn, ContactOut, ContactPatch, MergeIn
from crm.core.auth import STAFF, authorized, principal_of
from crm.core.http import apply_sort, json_ok, page_params, paginate, parse_body
from crm.core.openapi import openapi
from crm.db import db_session

bp = Blueprint("contacts", url_prefix="/api/v1")
READERS = (*STAFF, "service")


@bp.get("/contacts")
@authorized(*READERS)
@openapi(summary="Search contacts by name, fiscal code, phone or e-mail (q=)", response=ContactOut, many=True)
async def list_contacts(request: Request) -> HTTPResponse:
    p = principal_of(request)
    page = page_params(request)
    q = request.args.get("q")
    stmt = service.search_stmt(ente_id=p.ente_id, q=q)
    stmt = apply_sort(
        stmt,
        page,
        {"last_name": Contact.last_name, "first_name": Contact.first_name, "created_at": Contact.created_at},
        [Contact.id],
    )
    async with db_session(request) as s:
        result = await paginate(s, stmt, page, lambda c: service.to_out(c).model_dump())
        await audit.record(s, principal=p, action="search", entity="contact", entity_id=None,
                           details={"results": [c["id"] for c in result["items"]]})
    return json_ok(result)


@bp.post("/contacts")
@authorized(*READERS)
@openapi(summary="Create a contact", body=ContactIn, response=ContactOut)
async def create_contact(request: Request) -> HTTPResponse:
    data = parse_body(request, ContactIn)
    p = principal_of(request)
    async with db_session(request) as s:
        c = await service.create(s, ente_id=p.ente_id, data=data)
        await audit.record(s, principal=p, action="create", entity="contact", entity_id=c.id)
        out = service.to_out(c)
    return json_ok(out, status=201)


@bp.get("/contacts/<contact_id:int>")
@authorized(*READERS)
@openapi(summary="Read a contact (audited)", response=ContactOut)
async def get_contact(request: Request, contact_id: int) -> HTTPResponse:
    p = principal_of(request)
    async with db_session(request) as s:
        c = await service.get(s, ente_id=p.ente_id, contact_id=contact_id)
        await audit.record(s, principal=p, action="read", entity="contact", entity_id=c.id)
        out = service.to_out(c)
    return json_ok(out)


@bp.patch("/contacts/<contact_id:int>")
@authorized(*READERS)
@openapi(summary="Change a contact's details or consents", body=ContactPatch, response=ContactOut)
async def update_contact(request: Request, contact_id: int) -> HTTPResponse:
    data = parse_body(request, ContactPatch)
    p = principal_of(request)
    async with db_session(request) as s:
        c, changed = await service.update_contact(s, ente_id=p.ente_id, contact_id=contact_id, data=data)
        await audit.record(s, principal=p, action="update", entity="contact", entity_id=c.id, details={"fields": changed})
        out = service.to_out(c)
    return json_ok(out)


@bp.post("/contacts/<contact_id:int>/merge")
@authorized("admin", "operator", "phone_operator")
@openapi(summary="Merge a duplicate (source_id) into this contact, keeping all history", body=MergeIn, response=ContactOut)
async def merge_contact(request: Request, contact_id: int) -> HTTPResponse:
    data = parse_body(request, MergeIn)
    p = principal_of(request)
    async with db_session(request) as s:
        c = await service.merge(s, ente_id=p.ente_id, target_id=contact_id, source_id=data.source_id)
        await audit.record(s, principal=p, action="merge", entity="contact", entity_id=c.id,
                           details={"source_id": data.source_id})
        out = service.to_out(c)
    return json_ok(out)


@bp.get("/contacts/<contact_id:int>/export")
@authorized("admin", "operator")
@openapi(summary="GDPR export of everything held about the contact (JSON; audited)")
async def export_contact(request: Request, contact_id: int) -> HTTPResponse:
    from crm.contacts import gdpr

    p = principal_of(request)
    async with db_session(request) as s:
        data = await gdpr.export(s, ente_id=p.ente_id, contact_id=contact_id)
        await audit.record(s, principal=p, action="export", entity="contact", entity_id=contact_id)
    return json_ok(data, headers={"Content-Disposition": f'attachment; filename="contatto-{contact_id}.json"'})


@bp.post("/contacts/<contact_id:int>/erase")
@authorized("admin")
@openapi(summary="GDPR erasure: anonymise the contact, keep rows for statistics (audited)", response=ContactOut)
async def erase_contact(request: Request, contact_id: int) -> HTTPResponse:
    from crm.contacts import commands

    done = await commands.erase(request.app, principal_of(request), contact_id=contact_id)
    return json_ok(done.contact)

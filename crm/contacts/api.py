from __future__ import annotations

import asyncio
from pathlib import Path

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from crm.contacts import commands, gdpr, policies, service
from crm.contacts.models import Contact
from crm.contacts.schemas import (
    CapturedIn,
    CapturedOut,
    ContactExportOut,
    ContactIn,
    ContactOut,
    ContactPatch,
    ContactQuery,
    MergeIn,
)
from crm.core.auth import authorized, principal_of
from crm.core.commands import begin
from crm.core.http import apply_sort, download, json_ok, page_params, paginate, parse_body
from crm.core.openapi import openapi

bp = Blueprint("contacts", url_prefix="/api/v1")


@bp.get("/contacts")
@authorized(*policies.VIEW.roles)
@openapi(
    summary="Search contacts by name, fiscal code, phone or e-mail (q=)",
    response=ContactOut,
    many=True,
    query=ContactQuery,
)
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
    async with begin(request) as cx:
        result = await paginate(cx.session, stmt, page, lambda c: service.to_out(c).model_dump())
        await cx.read("search", "contact", None, details={"results": [c["id"] for c in result["items"]]})
    return json_ok(result)


@bp.post("/contacts")
@authorized(*policies.REGISTER.roles)
@openapi(status=201, summary="Create a contact", body=ContactIn, response=ContactOut)
async def create_contact(request: Request) -> HTTPResponse:
    data = parse_body(request, ContactIn)
    async with begin(request) as cx:
        out = service.to_out(await commands.create(cx, data=data))
    return json_ok(out, status=201)


@bp.get("/contacts/<contact_id:int>")
@authorized(*policies.VIEW.roles)
@openapi(summary="Read a contact (audited)", response=ContactOut)
async def get_contact(request: Request, contact_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        out = service.to_out(await commands.read(cx, contact_id=contact_id))
    return json_ok(out)


@bp.patch("/contacts/<contact_id:int>")
@authorized(*policies.EDIT.roles)
@openapi(summary="Change a contact's details or consents", body=ContactPatch, response=ContactOut)
async def update_contact(request: Request, contact_id: int) -> HTTPResponse:
    data = parse_body(request, ContactPatch)
    async with begin(request) as cx:
        c, _ = await commands.update(cx, contact_id=contact_id, data=data)
        out = service.to_out(c)
    return json_ok(out)


@bp.post("/contacts/<contact_id:int>/captured")
@authorized(*policies.CAPTURE.roles)
@openapi(
    summary="What the citizen gave the assistant: fills the contact's empty details, differing ones become conflicts",
    body=CapturedIn,
    response=CapturedOut,
)
async def captured(request: Request, contact_id: int) -> HTTPResponse:
    data = parse_body(request, CapturedIn)
    async with begin(request) as cx:
        done = await commands.capture(cx, contact_id=contact_id, data=data)
        out = CapturedOut(filled=done.filled, conflicts=done.conflicts, contact=service.to_out(done.contact))
    return json_ok(out)


@bp.post("/contacts/<contact_id:int>/merge")
@authorized(*policies.MERGE.roles)
@openapi(
    summary="Merge a duplicate (source_id) into this contact, keeping all history", body=MergeIn, response=ContactOut
)
async def merge_contact(request: Request, contact_id: int) -> HTTPResponse:
    data = parse_body(request, MergeIn)
    async with begin(request) as cx:
        out = service.to_out(await commands.merge(cx, target_id=contact_id, source_id=data.source_id))
    return json_ok(out)


@bp.get("/contacts/<contact_id:int>/export")
@authorized(*policies.EXPORT.roles)
@openapi(summary="GDPR export of everything held about the contact (JSON; audited)", response=ContactExportOut)
async def export_contact(request: Request, contact_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        data = await commands.export(cx, contact_id=contact_id)
    return json_ok(
        ContactExportOut.model_validate(data),
        headers={"Content-Disposition": f'attachment; filename="contatto-{contact_id}.json"'},
    )


@bp.get("/contacts/<contact_id:int>/export.zip")
@authorized(*policies.EXPORT.roles)
@openapi(
    summary="GDPR export as a ZIP: dati.json (the JSON export) and the files it lists under allegati/ (audited)",
    media=("application/zip",),
)
async def export_contact_archive(request: Request, contact_id: int) -> HTTPResponse:
    members: dict[str, Path] = {}
    async with begin(request) as cx:
        data = await commands.export(cx, contact_id=contact_id, fmt="zip", members=members)
    body = await asyncio.to_thread(gdpr.archive, data, members)
    return download(body, "application/zip", f"contatto-{contact_id}.zip")


@bp.post("/contacts/<contact_id:int>/erase")
@authorized(*policies.ERASE.roles)
@openapi(summary="GDPR erasure: anonymise the contact, keep rows for statistics (audited)", response=ContactOut)
async def erase_contact(request: Request, contact_id: int) -> HTTPResponse:
    async with begin(request) as cx:
        done = await commands.erase(cx, contact_id=contact_id)
        out = service.to_out(done.contact)
    return json_ok(out)

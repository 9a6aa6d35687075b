from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from crm.audit import service
from crm.audit.models import AuditEntry
from crm.audit.schemas import AuditOut, AuditQuery
from crm.core.auth import authorized, principal_of
from crm.core.http import apply_sort, json_ok, page_params, paginate
from crm.core.openapi import openapi
from crm.db import db_session

bp = Blueprint("audit", url_prefix="/api/v1")


@bp.get("/audit")
@authorized("admin")
@openapi(summary="Audit log (admins): filter by entity and entity_id", response=AuditOut, many=True, query=AuditQuery)
async def list_audit(request: Request) -> HTTPResponse:
    page = page_params(request)
    entity_id = request.args.get("entity_id")
    stmt = service.query(
        ente_id=principal_of(request).ente_id,
        entity=request.args.get("entity"),
        entity_id=int(entity_id) if entity_id and entity_id.isdigit() else None,
    )
    stmt = apply_sort(stmt, page, {"at": AuditEntry.at}, [AuditEntry.id.desc()])
    async with db_session(request) as s:
        return json_ok(await paginate(s, stmt, page, lambda e: AuditOut.model_validate(e).model_dump()))

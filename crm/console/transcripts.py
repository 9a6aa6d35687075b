"""The operator's export of a conversation's transcript as PDF (what the citizen saw, never the internal notes):
an audit line says who exported which conversation."""

from __future__ import annotations

from sanic import Request
from sanic.response import HTTPResponse, raw

from crm.console.kit import bp
from crm.console.session import console_page
from crm.conversations import transcript
from crm.conversations.policies import HANDLE
from crm.core.auth import Principal
from crm.core.commands import begin
from crm.entes import service as entes


@bp.get("/conversations/<conversation_id:int>/trascrizione.pdf")
@console_page(*HANDLE.staff)
async def transcript_pdf(request: Request, p: Principal, conversation_id: int) -> HTTPResponse:
    async with begin(request, screen="conversation") as cx:
        ente = await entes.get(cx.session, p.ente_id)
        t = await transcript.build(
            cx.session, ente_id=p.ente_id, conversation_id=conversation_id, ente_name=ente.name, tz=ente.tz
        )
        await cx.read("export", "conversation", conversation_id, details={"format": "pdf", "messages": len(t.lines)})
    return raw(
        transcript.pdf(t),
        content_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="trascrizione-conversazione-{conversation_id}.pdf"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )

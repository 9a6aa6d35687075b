"""Writing the quick replies (admins): permission, service call, audit line, live event."""

from __future__ import annotations

from crm.core.commands import Context, command
from crm.replies import policies
from crm.replies import service as svc
from crm.replies.models import QuickReply
from crm.replies.schemas import QuickReplyIn, QuickReplyPatch


@command(policies.MANAGE)
async def create(cx: Context, *, data: QuickReplyIn) -> QuickReply:
    row = await svc.create(cx.session, ente_id=cx.ente_id, data=data)
    await cx.record("create", "quick_reply", row.id, details={"shortcut": row.shortcut, "topic_id": row.topic_id})
    return row


@command(policies.MANAGE)
async def update(cx: Context, *, reply_id: int, data: QuickReplyPatch) -> QuickReply:
    row = await svc.update(cx.session, ente_id=cx.ente_id, reply_id=reply_id, data=data)
    await cx.record(
        "update", "quick_reply", row.id, details={"fields": sorted(data.model_fields_set), "shortcut": row.shortcut}
    )
    return row


@command(policies.MANAGE)
async def delete(cx: Context, *, reply_id: int) -> QuickReply:
    row = await svc.delete(cx.session, ente_id=cx.ente_id, reply_id=reply_id)
    await cx.record("delete", "quick_reply", reply_id, details={"shortcut": row.shortcut})
    return row

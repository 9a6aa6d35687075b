"""Creating offices and topics (ambiti): permission, service call, audit line, live event."""

from __future__ import annotations

from crm.core.commands import Context, command
from crm.offices import policies
from crm.offices import service as svc
from crm.offices.models import Office, Topic
from crm.offices.schemas import OfficeIn, TopicIn


@command(policies.MANAGE)
async def create_office(cx: Context, *, data: OfficeIn) -> Office:
    office = await svc.create_office(cx.session, ente_id=cx.ente_id, data=data)
    await cx.record("create", "office", office.id, details={"code": office.code})
    return office


@command(policies.MANAGE)
async def create_topic(cx: Context, *, data: TopicIn) -> Topic:
    topic = await svc.create_topic(cx.session, ente_id=cx.ente_id, data=data)
    await cx.record("create", "topic", topic.id, details={"slug": topic.slug, "office_id": topic.office_id})
    return topic

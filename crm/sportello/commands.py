"""The sportello's changes that span a domain's command and the desk's own records, one function each: the domain's
command (permission, audit line, live event) and, in the same transaction, what the desk keeps beside it (the place
and photos of a segnalazione, the draft an istanza was filed from). See ``crm/core/commands.py`` for the pattern."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm.core.commands import Context, command
from crm.core.errors import NotFound
from crm.instances import commands as instance_commands
from crm.instances import policies as instance_policies
from crm.instances.models import Instance
from crm.instances.protocol import ProtocolAdapter
from crm.instances.schemas import InstanceIn
from crm.instances.service import FileStore
from crm.offices.models import Topic
from crm.sportello import policies
from crm.sportello import service as svc
from crm.sportello.models import Draft
from crm.tickets import commands as ticket_commands
from crm.tickets import policies as ticket_policies
from crm.tickets.models import Ticket
from crm.tickets.schemas import TicketIn

REPORT_TOPIC = "segnalazioni"


def _own(cx: Context) -> int:
    """The citizen's contact (a visitor has registered by now); anyone else has no records here."""
    if cx.principal.contact_id is None:
        raise NotFound("not found")
    return cx.principal.contact_id


@command(ticket_policies.OPEN)
async def file_report(
    cx: Context,
    *,
    subject: str,
    description: str,
    category: str,
    address: str,
    latitude: float | None,
    longitude: float | None,
    files: list[tuple[str, str, bytes]],
    store: FileStore,
) -> Ticket:
    """A segnalazione: a request (kind ``report``) of the citizen's, with its place and files. The caller discards
    the stored files if the transaction rolls back."""
    topic = await cx.session.scalar(select(Topic.slug).where(Topic.ente_id == cx.ente_id, Topic.slug == REPORT_TOPIC))
    t = await ticket_commands.open_request(
        cx,
        data=TicketIn(
            contact_id=_own(cx), kind="report", topic=topic, channel="web", subject=subject, description=description
        ),
    )
    await svc.add_report_details(
        cx.session,
        ente_id=cx.ente_id,
        ticket_id=t.id,
        category=category,
        address=address,
        latitude=latitude,
        longitude=longitude,
        files=files,
        store=store,
    )
    return t


@command(policies.DRAFT)
async def save_draft(cx: Context, *, type_slug: str, step: int, data: dict[str, Any]) -> Draft:
    """Save the step an istanza draft has reached (and what it holds so far), to resume it from any device."""
    contact_id = _own(cx)
    cx.allow(policies.DRAFT, owner=contact_id)
    d = await svc.save_draft(
        cx.session, ente_id=cx.ente_id, contact_id=contact_id, type_slug=type_slug, step=step, data=data
    )
    await cx.record("save", "instance_draft", d.id, details={"type": type_slug, "step": step})
    return d


@command(instance_policies.SUBMIT)
async def send_instance(
    cx: Context,
    *,
    type_slug: str,
    data: dict[str, Any],
    attachments: list[dict[str, Any]],
    adapter: ProtocolAdapter,
    store: FileStore,
) -> Instance:
    """File the citizen's istanza from their draft (which goes away with it). The caller discards the stored files
    if the transaction rolls back."""
    contact_id = _own(cx)
    body = InstanceIn.model_validate(
        {"type": type_slug, "contact_id": contact_id, "data": data, "channel": "web", "attachments": attachments}
    )
    inst = await instance_commands.submit(cx, data=body, adapter=adapter, store=store)
    await svc.delete_draft(cx.session, ente_id=cx.ente_id, contact_id=contact_id, type_slug=type_slug)
    return inst

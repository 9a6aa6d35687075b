"""Every change to a request (ticket), one function each: permission, service call, audit line, live event.

The request's own history (``TicketEvent``, shown to operators) is written by the service; the audit line says who
did it for the ente's audit log; the live event refreshes the requests desk.
"""

from __future__ import annotations

from crm.core.commands import Context, command
from crm.instances.service import FileStore
from crm.tickets import policies
from crm.tickets import service as svc
from crm.tickets.models import Ticket, TicketFile
from crm.tickets.schemas import TicketIn


def _event(t: Ticket) -> dict[str, object]:
    return {"type": "request", "status": t.status}


@command(policies.OPEN)
async def open_request(cx: Context, *, data: TicketIn) -> Ticket:
    """Open a request (auto-assigned to the least-loaded competent operator); a citizen only for themselves."""
    cx.allow(policies.OPEN, owner=data.contact_id)
    t = await svc.create(cx.session, principal=cx.principal, data=data)
    await cx.record(
        "create",
        "request",
        t.id,
        details={"contact_id": t.contact_id, "on_behalf": t.on_behalf, "channel": t.channel},
        event=_event(t),
    )
    return t


@command(policies.HANDLE)
async def transition(cx: Context, *, ticket_id: int, to: str, note: str = "") -> Ticket:
    t = await svc.transition(cx.session, principal=cx.principal, ticket_id=ticket_id, to=to, note=note)
    await cx.record("status", "request", t.id, details={"to": to}, event=_event(t))
    return t


@command(policies.HANDLE)
async def take(cx: Context, *, ticket_id: int, note: str = "") -> Ticket:
    """Take a request in charge: a new one moves to "in charge", and it is assigned to the caller."""
    t = await svc.get(cx.session, ente_id=cx.ente_id, ticket_id=ticket_id)
    if t.status == "new":
        t = await svc.transition(cx.session, principal=cx.principal, ticket_id=ticket_id, to="in_charge", note=note)
    if t.assignee_id != cx.principal.operator_id:
        t = await svc.assign(
            cx.session, principal=cx.principal, ticket_id=ticket_id, operator_id=cx.principal.operator_id
        )
    await cx.record("take", "request", t.id, event=_event(t))
    return t


@command(policies.HANDLE)
async def assign(cx: Context, *, ticket_id: int, operator_id: int | None) -> Ticket:
    t = await svc.assign(cx.session, principal=cx.principal, ticket_id=ticket_id, operator_id=operator_id)
    await cx.record("assign", "request", t.id, details={"operator_id": operator_id}, event=_event(t))
    return t


@command(policies.HANDLE)
async def set_priority(cx: Context, *, ticket_id: int, priority: str, note: str = "") -> Ticket:
    """Change the priority (the SLA due time is computed again)."""
    t = await svc.set_priority(cx.session, principal=cx.principal, ticket_id=ticket_id, priority=priority, note=note)
    await cx.record("priority", "request", t.id, details={"priority": priority}, event=_event(t))
    return t


@command(policies.HANDLE)
async def add_note(cx: Context, *, ticket_id: int, note: str) -> Ticket:
    t = await svc.add_note(cx.session, principal=cx.principal, ticket_id=ticket_id, note=note)
    await cx.record("note", "request", t.id, event=_event(t))
    return t


@command(policies.HANDLE)
async def add_file(cx: Context, *, ticket_id: int, ref: str, label: str) -> Ticket:
    """Attach a file of a conversation (``crm.conversations.commands.attach_file`` checks it is the citizen's)."""
    t = await svc.add_file(cx.session, principal=cx.principal, ticket_id=ticket_id, ref=ref, label=label)
    await cx.record("file", "request", t.id, details={"ref": ref}, event=_event(t))
    return t


@command(policies.FILE)
async def upload_files(
    cx: Context, *, ticket_id: int, files: list[tuple[str, bytes]], store: FileStore, closed_days: int
) -> list[TicketFile]:
    """Files for the request (the phone desk's photo or PDF the caller sent): checked like an istanza's attachments,
    all or none. The audit line counts them and names their types, never their names or content."""
    done = await svc.add_uploads(
        cx.session, principal=cx.principal, ticket_id=ticket_id, files=files, store=store, closed_days=closed_days
    )
    t = await svc.get(cx.session, ente_id=cx.ente_id, ticket_id=ticket_id)
    await cx.record(
        "upload",
        "request",
        ticket_id,
        details={"files": [f.id for f in done], "types": [f.content_type for f in done]},
        event=_event(t),
    )
    return done

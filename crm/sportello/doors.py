"""The citizen's audited reads of their own records on the sportello (the area personale): each writes the audit
line of who saw what. Records of other people answer 404 (the same as records that do not exist). The citizen's
changes go through the domains' commands (``crm/<domain>/commands.py``, ``crm/sportello/commands.py``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm.bookings.models import Booking
from crm.conversations.models import Conversation, Message
from crm.core.commands import Context
from crm.core.errors import NotFound
from crm.instances import service as instances
from crm.instances.models import Attachment, Instance, InstanceEvent
from crm.notifications.models import Notification
from crm.tickets.models import Ticket, TicketEvent


def _cid(cx: Context) -> int:
    """The signed-in citizen's contact: nobody else has records here."""
    if not cx.principal.is_citizen or cx.principal.contact_id is None:
        raise NotFound("not found")
    return cx.principal.contact_id


# --- reads ---------------------------------------------------------------------------------------------------------
async def overview(cx: Context) -> dict[str, Any]:
    """Everything of the citizen's own the area personale lists, newest first (one audit line)."""
    cid = _cid(cx)
    ente = cx.ente_id
    out = {
        "bookings": (
            await cx.session.scalars(
                select(Booking)
                .where(Booking.ente_id == ente, Booking.contact_id == cid)
                .order_by(Booking.start.desc())
                .limit(50)
            )
        ).all(),
        "instances": (
            await cx.session.scalars(
                select(Instance)
                .where(Instance.ente_id == ente, Instance.contact_id == cid)
                .order_by(Instance.id.desc())
                .limit(50)
            )
        ).all(),
        "tickets": (
            await cx.session.scalars(
                select(Ticket)
                .where(Ticket.ente_id == ente, Ticket.contact_id == cid)
                .order_by(Ticket.id.desc())
                .limit(50)
            )
        ).all(),
        "conversations": (
            await cx.session.scalars(
                select(Conversation)
                .where(Conversation.ente_id == ente, Conversation.contact_id == cid)
                .order_by(Conversation.id.desc())
                .limit(20)
            )
        ).all(),
        "messages": (
            await cx.session.scalars(
                select(Notification)
                .where(Notification.ente_id == ente, Notification.contact_id == cid, Notification.status == "sent")
                .order_by(Notification.id.desc())
                .limit(50)
            )
        ).all(),
    }
    await cx.read("read", "contact", cid)
    return out


async def booking(cx: Context, booking_id: int) -> Booking:
    b = await cx.session.scalar(
        select(Booking).where(Booking.ente_id == cx.ente_id, Booking.id == booking_id, Booking.contact_id == _cid(cx))
    )
    if b is None:
        raise NotFound("prenotazione non trovata")
    await cx.read("read", "booking", b.id)
    return b


async def instance(cx: Context, instance_id: int) -> tuple[Instance, list[InstanceEvent], list[Attachment]]:
    inst = await cx.session.scalar(
        select(Instance).where(
            Instance.ente_id == cx.ente_id, Instance.id == instance_id, Instance.contact_id == _cid(cx)
        )
    )
    if inst is None:
        raise NotFound("istanza non trovata")
    events = list(await instances.events(cx.session, inst))
    files = list(
        (
            await cx.session.scalars(
                select(Attachment).where(Attachment.instance_id == inst.id).order_by(Attachment.id)
            )
        ).all()
    )
    await cx.read("read", "instance", inst.id)
    return inst, events, files


async def ticket(cx: Context, ticket_id: int) -> tuple[Ticket, list[TicketEvent]]:
    t = await cx.session.scalar(
        select(Ticket).where(Ticket.ente_id == cx.ente_id, Ticket.id == ticket_id, Ticket.contact_id == _cid(cx))
    )
    if t is None:
        raise NotFound("richiesta non trovata")
    # internal notes stay internal: the citizen sees status changes and the replies meant for them
    events = list(
        (
            await cx.session.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == t.id, TicketEvent.action.in_(("created", "status")))
                .order_by(TicketEvent.id)
            )
        ).all()
    )
    await cx.read("read", "ticket", t.id)
    return t, events


async def conversation(cx: Context, conversation_id: int) -> tuple[Conversation, list[Message]]:
    conv = await cx.session.scalar(
        select(Conversation).where(
            Conversation.ente_id == cx.ente_id, Conversation.id == conversation_id, Conversation.contact_id == _cid(cx)
        )
    )
    if conv is None:
        raise NotFound("conversazione non trovata")
    msgs = list(
        (
            await cx.session.scalars(
                select(Message)
                .where(Message.conversation_id == conv.id, Message.private.is_(False))
                .order_by(Message.id)
            )
        ).all()
    )
    await cx.read("read", "conversation", conv.id)
    return conv, msgs

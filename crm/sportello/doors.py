"""The citizen's audited reads of their own records on the sportello (the area personale): each writes the audit
line of who saw what. Records of other people answer 404 (the same as records that do not exist). The citizen's
changes go through the domains' commands (``crm/<domain>/commands.py``, ``crm/sportello/commands.py``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.audit import service as audit
from crm.bookings.models import Booking
from crm.conversations.models import Conversation, Message
from crm.core.auth import Principal
from crm.core.errors import NotFound
from crm.instances import service as instances
from crm.instances.models import Attachment, Instance, InstanceEvent
from crm.notifications.models import Notification
from crm.tickets.models import Ticket, TicketEvent


def _cid(principal: Principal) -> int:
    from crm.citizens.service import contact_id_of

    cid = contact_id_of(principal)
    if cid is None:
        raise NotFound("not found")
    return cid


async def _read(session: AsyncSession, principal: Principal, entity: str, entity_id: int | None) -> None:
    await audit.record(session, principal=principal, action="read", entity=entity, entity_id=entity_id,
                       details={"via": "sportello"})


# --- reads ---------------------------------------------------------------------------------------------------------
async def overview(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    """Everything of the citizen's own the area personale lists, newest first (one audit line)."""
    cid = _cid(principal)
    ente = principal.ente_id
    out = {
        "bookings": (await session.scalars(select(Booking).where(Booking.ente_id == ente, Booking.contact_id == cid)
                                           .order_by(Booking.start.desc()).limit(50))).all(),
        "instances": (await session.scalars(select(Instance).where(Instance.ente_id == ente,
                                                                   Instance.contact_id == cid)
                                            .order_by(Instance.id.desc()).limit(50))).all(),
        "tickets": (await session.scalars(select(Ticket).where(Ticket.ente_id == ente, Ticket.contact_id == cid)
                                          .order_by(Ticket.id.desc()).limit(50))).all(),
        "conversations": (await session.scalars(select(Conversation).where(
            Conversation.ente_id == ente, Conversation.contact_id == cid).order_by(Conversation.id.desc())
            .limit(20))).all(),
        "messages": (await session.scalars(select(Notification).where(
            Notification.ente_id == ente, Notification.contact_id == cid, Notification.status == "sent")
            .order_by(Notification.id.desc()).limit(50))).all(),
    }
    await _read(session, principal, "contact", cid)
    return out


async def booking(session: AsyncSession, principal: Principal, booking_id: int, *, audit_read: bool = True) -> Booking:
    b = await session.scalar(select(Booking).where(Booking.ente_id == principal.ente_id, Booking.id == booking_id,
                                                   Booking.contact_id == _cid(principal)))
    if b is None:
        raise NotFound("prenotazione non trovata")
    if audit_read:
        await _read(session, principal, "booking", b.id)
    return b


async def instance(session: AsyncSession, principal: Principal, instance_id: int) -> tuple[Instance, list[InstanceEvent],
                                                                                       list[Attachment]]:
    inst = await session.scalar(select(Instance).where(Instance.ente_id == principal.ente_id,
                                                       Instance.id == instance_id,
                                                       Instance.contact_id == _cid(principal)))
    if inst is None:
        raise NotFound("istanza non trovata")
    events = list(await instances.events(session, inst))
    files = list((await session.scalars(select(Attachment).where(Attachment.instance_id == inst.id)
                                        .order_by(Attachment.id))).all())
    await _read(session, principal, "instance", inst.id)
    return inst, events, files


async def ticket(session: AsyncSession, principal: Principal, ticket_id: int) -> tuple[Ticket, list[TicketEvent]]:
    t = await session.scalar(select(Ticket).where(Ticket.ente_id == principal.ente_id, Ticket.id == ticket_id,
                                                  Ticket.contact_id == _cid(principal)))
    if t is None:
        raise NotFound("richiesta non trovata")
    # internal notes stay internal: the citizen sees status changes and the replies meant for them
    events = list((await session.scalars(select(TicketEvent).where(
        TicketEvent.ticket_id == t.id, TicketEvent.action.in_(("created", "status"))).order_by(TicketEvent.id))).all())
    await _read(session, principal, "ticket", t.id)
    return t, events


async def conversation(session: AsyncSession, principal: Principal, conversation_id: int) -> tuple[Conversation,
                                                                                                list[Message]]:
    conv = await session.scalar(select(Conversation).where(Conversation.ente_id == principal.ente_id,
                                                           Conversation.id == conversation_id,
                                                           Conversation.contact_id == _cid(principal)))
    if conv is None:
        raise NotFound("conversazione non trovata")
    msgs = list((await session.scalars(select(Message).where(Message.conversation_id == conv.id,
                                                             Message.private.is_(False))
                                       .order_by(Message.id))).all())
    await _read(session, principal, "conversation", conv.id)
    return conv, msgs

"""Every change and every read of personal data the citizen makes on the sportello goes through here, as the
signed-in citizen principal acting on their own records. Until the domain commands of ``crm/<domain>/commands.py``
exist for a domain, these thin functions call its service and write the audit line themselves; each will become a
one-line call of that command. Records of other people answer 404 (the same as records that do not exist)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.audit import service as audit
from crm.bookings import service as bookings
from crm.bookings.models import Booking
from crm.bookings.schemas import BookingIn
from crm.contacts.models import Contact
from crm.conversations.models import Conversation, Message
from crm.core.auth import Principal
from crm.core.errors import NotFound, ValidationFailed
from crm.db import utcnow
from crm.instances import service as instances
from crm.instances.models import Attachment, Instance, InstanceEvent
from crm.instances.protocol import ProtocolAdapter
from crm.instances.schemas import InstanceIn
from crm.notifications.models import Notification
from crm.tickets import service as tickets
from crm.tickets.models import Ticket, TicketEvent
from crm.tickets.schemas import TicketIn


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


# --- changes -------------------------------------------------------------------------------------------------------
async def book(session: AsyncSession, principal: Principal, *, service_id: int, start: datetime,
               fields: dict[str, Any], idempotency_key: str) -> Booking:
    data = BookingIn(service_id=service_id, start=start, contact_id=_cid(principal), fields=fields, channel="web")
    b, created = await bookings.book(session, principal=principal, data=data, idempotency_key=idempotency_key)
    if created:
        await audit.record(session, principal=principal, action="create", entity="booking", entity_id=b.id,
                           details={"via": "sportello"})
    return b


async def cancel_booking(session: AsyncSession, principal: Principal, booking_id: int) -> Booking:
    b = await booking(session, principal, booking_id, audit_read=False)
    await bookings.cancel(session, principal=principal, booking_id=b.id)
    await audit.record(session, principal=principal, action="cancel", entity="booking", entity_id=b.id,
                       details={"via": "sportello"})
    return b


async def reschedule_booking(session: AsyncSession, principal: Principal, booking_id: int, start: datetime) -> Booking:
    """Within the rules: only a confirmed booking, only before its cancellation deadline (the service's)."""
    b = await booking(session, principal, booking_id, audit_read=False)
    svc = await bookings.get_service(session, ente_id=b.ente_id, service_id=b.service_id)
    if b.status == "confirmed" and utcnow() > bookings.cancel_deadline(b, svc):
        raise ValidationFailed(f"bookings can be moved up to {svc.cancel_deadline_hours} hours before",
                               fields={"start": "deadline passed"}, code="deadline_passed")
    new = await bookings.reschedule(session, principal=principal, booking_id=b.id, start=start, resource_id=None)
    await audit.record(session, principal=principal, action="reschedule", entity="booking", entity_id=new.id,
                       details={"from": b.id, "via": "sportello"})
    return new


async def submit_instance(session: AsyncSession, principal: Principal, *, type_slug: str, data: dict[str, Any],
                          attachments: list[dict[str, Any]], adapter: ProtocolAdapter,
                          store: instances.FileStore) -> Instance:
    body = InstanceIn(type=type_slug, contact_id=_cid(principal), data=data, channel="web",
                      attachments=attachments)  # type: ignore[arg-type]
    inst = await instances.submit(session, principal=principal, data=body, adapter=adapter, store=store)
    await audit.record(session, principal=principal, action="create", entity="instance", entity_id=inst.id,
                       details={"via": "sportello"})
    return inst


async def answer_integration(session: AsyncSession, principal: Principal, instance_id: int, *, note: str,
                             files: list[tuple[str, str, bytes]], store: instances.FileStore) -> Instance:
    """The citizen answers an integration request: the files are added, the istanza moves to ``integrated``
    (the statutory clock starts again) and the office is told."""
    inst, _, _ = await instance(session, principal, instance_id)
    if inst.status != "integration_requested":
        raise ValidationFailed("l'istanza non attende integrazioni", fields={"note": "nessuna integrazione richiesta"})
    if not note.strip() and not files:
        raise ValidationFailed("scriva una risposta o alleghi un documento", fields={"note": "obbligatorio"})
    for filename, content_type, body in files:
        await instances.add_attachment(session, ente_id=inst.ente_id, instance_id=inst.id, kind="integrazione",
                                       filename=filename, content_type=content_type, body=body, store=store)
    await instances.transition(session, principal=principal, instance_id=inst.id, to="integrated",
                               note=note.strip() or "documenti allegati")
    await audit.record(session, principal=principal, action="integrate", entity="instance", entity_id=inst.id,
                       details={"files": len(files), "via": "sportello"})
    return inst


async def file_report(session: AsyncSession, principal: Principal, *, topic: str | None, subject: str,
                      description: str) -> Ticket:
    data = TicketIn(contact_id=_cid(principal), kind="report", topic=topic, channel="web", subject=subject,
                    description=description)
    t = await tickets.create(session, principal=principal, data=data)
    await audit.record(session, principal=principal, action="create", entity="ticket", entity_id=t.id,
                       details={"via": "sportello"})
    return t


async def own_contact(session: AsyncSession, principal: Principal) -> Contact:
    c = await session.get(Contact, _cid(principal))
    if c is None or c.ente_id != principal.ente_id:
        raise NotFound("not found")
    return c


def reschedule_window(b: Booking, cancel_deadline_hours: int) -> datetime:
    return b.start - timedelta(hours=cancel_deadline_hours)

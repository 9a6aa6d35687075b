"""Read-only look-ups the console pages need for display (names of operators, citizens, sites and counters), each a
single query by primary key within the ente. Changes always go through the domain services."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.contacts import identity
from crm.contacts.models import Contact
from crm.core.labels import label
from crm.operators import service as operators


async def operator_names(session: AsyncSession, *, ente_id: int) -> dict[int, str]:
    """Operator id -> the name shown to colleagues (full name, else username)."""
    return {op.id: op.full_name or op.username for op in await operators.list_(session, ente_id=ente_id)}


async def contacts_by_id(session: AsyncSession, *, ente_id: int, ids: Iterable[int]) -> dict[int, Contact]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = (await session.scalars(select(Contact).where(Contact.ente_id == ente_id, Contact.id.in_(wanted)))).all()
    return {c.id: c for c in rows}


async def booking_places(session: AsyncSession, *, ente_id: int) -> tuple[dict[int, str], dict[int, str]]:
    """(location id -> name, resource id -> name) of the ente's booking centre."""
    from crm.bookings.models import Location, Resource

    locs = (await session.execute(select(Location.id, Location.name).where(Location.ente_id == ente_id))).all()
    res = (await session.execute(select(Resource.id, Resource.name).where(Resource.ente_id == ente_id))).all()
    return {i: n for i, n in locs}, {i: n for i, n in res}


def by_id(rows: Iterable[Any]) -> dict[int, Any]:
    return {r.id: r for r in rows}


async def instance_types(session: AsyncSession, *, ente_id: int) -> dict[int, Any]:
    """Every istanza type of the ente by id, deactivated ones included (old istanze keep their type)."""
    from crm.instances.models import InstanceType

    return by_id((await session.scalars(select(InstanceType).where(InstanceType.ente_id == ente_id))).all())


async def attachments_of(session: AsyncSession, *, ente_id: int, instance_id: int) -> list[Any]:
    from crm.instances.models import Attachment

    return list(
        (
            await session.scalars(
                select(Attachment)
                .where(Attachment.ente_id == ente_id, Attachment.instance_id == instance_id)
                .order_by(Attachment.id)
            )
        ).all()
    )


async def linked_counts(session: AsyncSession, *, ente_id: int, contact_id: int) -> dict[str, int]:
    """How many conversations, requests, bookings and istanze point at a contact (for the merge comparison)."""
    from sqlalchemy import func

    from crm.bookings import service as bookings
    from crm.conversations import service as conversations
    from crm.instances import service as instances
    from crm.tickets import service as tickets

    stmts = {
        "conversations": conversations.list_stmt(ente_id=ente_id, contact_id=contact_id),
        "requests": tickets.list_stmt(ente_id=ente_id, filters={"contact_id": contact_id}),
        "bookings": bookings.list_stmt(
            ente_id=ente_id, contact_id=contact_id, service_id=None, status=None, d_from=None, d_to=None
        ),
        "instances": instances.list_stmt(ente_id=ente_id, contact_id=contact_id, status=None, type_id=None),
    }
    return {
        k: int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        for k, stmt in stmts.items()
    }


CONFLICT_OUTCOME = {
    "usato": "Il dato indicato dal cittadino è ora quello del contatto.",
    "mantenuto": "Mantenuto il dato registrato.",
    "cf_altrui": "Questo codice fiscale è già di un altro contatto: se è la stessa persona, unisca i due contatti.",
    "risolto": "Questa differenza era già stata risolta.",
}


async def contact_conflicts(session: AsyncSession, *, ente_id: int, contact: Contact) -> list[dict[str, Any]]:
    """The details the citizen gave that differ from the contact's, each with what the contact holds, to resolve."""
    current = {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "fiscal_code": contact.fiscal_code or "",
        "phone": ", ".join(p.e164 for p in contact.phones),
        "email": ", ".join(e.email for e in contact.emails),
    }
    return [
        {
            "id": k.id,
            "field": k.field,
            "label": label("contact_field", k.field),
            "value": k.value,
            "current": current.get(k.field, ""),
        }
        for k in await identity.open_conflicts(session, ente_id=ente_id, contact_id=contact.id)
    ]

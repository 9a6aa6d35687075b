"""Identity captured once: what the citizen gives about themselves in an assistant's form (name, codice fiscale, phone,
e-mail) fills the contact's empty details; a detail the contact already holds is never overwritten silently: a
different value is kept as a conflict (``ContactConflict``) until an operator uses it or keeps the old one.

Names are compared without regard to case or spacing, and a name the channel gave (a Telegram first name) that the
citizen's full name starts with is completed, not contested. A value once decided on is not raised again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.contacts.models import Contact, ContactConflict, ContactEmail, ContactPhone
from crm.contacts.schemas import CapturedIn
from crm.contacts.service import get
from crm.core.errors import Conflict, NotFound
from crm.core.records import get_in_ente
from crm.db import utcnow

FIELDS = ("first_name", "last_name", "fiscal_code", "phone", "email")


@dataclass
class Captured:
    contact: Contact
    filled: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # e.g. a fiscal code that is another contact's


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _names(c: Contact, first: str, last: str) -> tuple[str, str]:
    """The given name as (first, last), aligned with what the contact holds: "Maria Grazia Rossi" split at the first
    space is ("Maria", "Grazia Rossi"); a contact holding "Maria Grazia" as first name gets ("Maria Grazia",
    "Rossi")."""
    full = " ".join(f"{first} {last}".split())
    have = c.first_name.strip()
    if have and full.casefold().startswith(have.casefold() + " "):
        return have, full[len(have) :].strip()
    return first, last


async def _known_values(session: AsyncSession, contact_id: int) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(ContactConflict.field, ContactConflict.value).where(ContactConflict.contact_id == contact_id)
    )
    return [(f, v) for f, v in rows.all()]


async def capture(session: AsyncSession, *, ente_id: int, contact_id: int, data: CapturedIn) -> Captured:
    """Fill the empty details of ``contact_id`` with what the citizen gave; keep the differing ones as conflicts."""
    c = await get(session, ente_id=ente_id, contact_id=contact_id)
    while c.merged_into_id is not None:  # the surviving record
        c = await get(session, ente_id=ente_id, contact_id=c.merged_into_id)
    done = Captured(contact=c)
    if c.anonymised_at is not None:
        return done
    known = await _known_values(session, c.id)

    def contest(name: str, value: str) -> None:
        if not any(f == name and _same(v, value) for f, v in known):
            session.add(ContactConflict(ente_id=ente_id, contact_id=c.id, field=name, value=value))
            known.append((name, value))
            done.conflicts.append(name)

    first, last = _names(c, data.first_name, data.last_name)
    if not (_same(f"{c.first_name} {c.last_name}", f"{first} {last}") and (first or last)):
        for name, given in (("first_name", first), ("last_name", last)):
            have = getattr(c, name)
            if not given or _same(have, given):
                continue
            if not have.strip():
                setattr(c, name, given)
                done.filled.append(name)
            else:
                contest(name, given)
    if data.fiscal_code and data.fiscal_code != c.fiscal_code:
        if c.fiscal_code:
            contest("fiscal_code", data.fiscal_code)
        elif await _fiscal_code_owner(session, ente_id, data.fiscal_code, c.id) is not None:
            done.skipped.append("fiscal_code")  # another contact's: the same person twice, a merge for an operator
        else:
            c.fiscal_code = data.fiscal_code
            done.filled.append("fiscal_code")
    if data.phone and data.phone not in {p.e164 for p in c.phones}:
        if c.phones:
            contest("phone", data.phone)
        else:
            c.phones.append(ContactPhone(ente_id=ente_id, e164=data.phone))
            done.filled.append("phone")
    if data.email and data.email not in {e.email for e in c.emails}:
        if c.emails:
            contest("email", data.email)
        else:
            c.emails.append(ContactEmail(ente_id=ente_id, email=data.email))
            done.filled.append("email")
    await session.flush()
    return done


async def _fiscal_code_owner(session: AsyncSession, ente_id: int, fiscal_code: str, exclude: int) -> int | None:
    return await session.scalar(
        select(Contact.id).where(Contact.ente_id == ente_id, Contact.fiscal_code == fiscal_code, Contact.id != exclude)
    )


async def open_conflicts(session: AsyncSession, *, ente_id: int, contact_id: int) -> list[ContactConflict]:
    """The contact's conflicts still to resolve, oldest first."""
    return list(
        (
            await session.scalars(
                select(ContactConflict)
                .where(
                    ContactConflict.ente_id == ente_id,
                    ContactConflict.contact_id == contact_id,
                    ContactConflict.resolved_at.is_(None),
                )
                .order_by(ContactConflict.id)
            )
        ).all()
    )


async def resolve(
    session: AsyncSession, *, ente_id: int, contact_id: int, conflict_id: int, use: bool
) -> tuple[Contact, ContactConflict]:
    """Use the citizen's value (a phone or e-mail becomes the contact's first, which notices go to; the others
    stay) or keep the contact's."""
    conflict = await get_in_ente(session, ContactConflict, ente_id=ente_id, record_id=conflict_id, what="conflict")
    if conflict.contact_id != contact_id:
        raise NotFound("conflict not found")
    if conflict.resolved_at is not None:
        raise Conflict("the conflict was already resolved", code="already_resolved")
    c = await get(session, ente_id=ente_id, contact_id=contact_id)
    if c.anonymised_at is not None or c.merged_into_id is not None:
        raise Conflict("contact was erased or merged and cannot be edited")
    if use:
        if conflict.field in ("first_name", "last_name"):
            setattr(c, conflict.field, conflict.value)
        elif conflict.field == "fiscal_code":
            owner = await _fiscal_code_owner(session, ente_id, conflict.value, c.id)
            if owner is not None:
                raise Conflict(
                    f"fiscal code already belongs to contact {owner}",
                    fields={"fiscal_code": "already used"},
                    code="duplicate",
                )
            c.fiscal_code = conflict.value
        elif conflict.field == "phone":
            rest = [p.e164 for p in c.phones if p.e164 != conflict.value]
            c.phones = []  # rows are listed by id: the chosen number first means new rows, after the old are gone
            await session.flush()
            c.phones = [ContactPhone(ente_id=ente_id, e164=v) for v in (conflict.value, *rest)]
        elif conflict.field == "email":
            rest = [e.email for e in c.emails if e.email != conflict.value]
            c.emails = []
            await session.flush()
            c.emails = [ContactEmail(ente_id=ente_id, email=v) for v in (conflict.value, *rest)]
    conflict.resolved_at = utcnow()
    conflict.resolution = "used" if use else "kept"
    await session.flush()
    return c, conflict

"""Contacts: create, find, update, search and merge. Every read and change of a record is audited by the caller."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm.contacts.models import Contact, ContactEmail, ContactIdentity, ContactPhone
from crm.contacts.schemas import ContactIn, ContactOut, ContactPatch, IdentityIn, normalise_phone
from crm.core.errors import Conflict, ValidationFailed
from crm.core.records import get_in_ente
from crm.db import Base


def to_out(c: Contact) -> ContactOut:
    return ContactOut(
        id=c.id,
        first_name=c.first_name,
        last_name=c.last_name,
        fiscal_code=c.fiscal_code,
        phones=[p.e164 for p in c.phones],
        emails=[e.email for e in c.emails],
        identities=[IdentityIn(channel=i.channel, external_id=i.external_id) for i in c.identities],  # type: ignore[arg-type]
        preferred_channel=c.preferred_channel,
        consent_privacy=c.consent_privacy,
        consent_notifications=c.consent_notifications,
        verified_identity=c.verified_identity,
        notes=c.notes,
        merged_into_id=c.merged_into_id,
        anonymised=c.anonymised_at is not None,
        created_at=c.created_at.isoformat(),
    )


async def get(session: AsyncSession, *, ente_id: int, contact_id: int) -> Contact:
    return await get_in_ente(session, Contact, ente_id=ente_id, record_id=contact_id, what="contact")


async def _check_fiscal_code_free(session: AsyncSession, ente_id: int, fiscal_code: str, exclude: int | None) -> None:
    stmt = select(Contact.id).where(Contact.ente_id == ente_id, Contact.fiscal_code == fiscal_code)
    if exclude is not None:
        stmt = stmt.where(Contact.id != exclude)
    existing = await session.scalar(stmt)
    if existing:
        raise Conflict(
            f"fiscal code already belongs to contact {existing}",
            fields={"fiscal_code": "already used"},
            code="duplicate",
        )


async def _check_identity_free(session: AsyncSession, ente_id: int, ident: IdentityIn, exclude: int | None) -> None:
    stmt = select(ContactIdentity.contact_id).where(
        ContactIdentity.ente_id == ente_id,
        ContactIdentity.channel == ident.channel,
        ContactIdentity.external_id == ident.external_id,
    )
    owner = await session.scalar(stmt)
    if owner is not None and owner != exclude:
        raise Conflict(f"{ident.channel} identity already belongs to contact {owner}", fields={"identities": "in use"})


async def create(session: AsyncSession, *, ente_id: int, data: ContactIn) -> Contact:
    if data.fiscal_code:
        await _check_fiscal_code_free(session, ente_id, data.fiscal_code, None)
    for ident in data.identities:
        await _check_identity_free(session, ente_id, ident, None)
    c = Contact(
        ente_id=ente_id,
        first_name=data.first_name.strip(),
        last_name=data.last_name.strip(),
        fiscal_code=data.fiscal_code,
        preferred_channel=data.preferred_channel,
        consent_privacy=data.consent_privacy,
        consent_notifications=data.consent_notifications,
        notes=data.notes,
        phones=[ContactPhone(ente_id=ente_id, e164=p) for p in data.phones],
        emails=[ContactEmail(ente_id=ente_id, email=e) for e in data.emails],
        identities=[
            ContactIdentity(ente_id=ente_id, channel=i.channel, external_id=i.external_id) for i in data.identities
        ],
    )
    session.add(c)
    await session.flush()
    return c


async def update_contact(
    session: AsyncSession, *, ente_id: int, contact_id: int, data: ContactPatch
) -> tuple[Contact, list[str]]:
    c = await get(session, ente_id=ente_id, contact_id=contact_id)
    if c.anonymised_at is not None:
        raise Conflict("contact was erased (GDPR) and cannot be edited")
    changed: list[str] = []
    fields = data.model_fields_set
    if "fiscal_code" in fields and data.fiscal_code != c.fiscal_code:
        if data.fiscal_code:
            await _check_fiscal_code_free(session, ente_id, data.fiscal_code, c.id)
        c.fiscal_code = data.fiscal_code
        changed.append("fiscal_code")
    for name in ("first_name", "last_name", "preferred_channel", "consent_privacy", "consent_notifications", "notes"):
        if name in fields:
            value = getattr(data, name)
            if value is None and name not in ("preferred_channel",):
                continue
            if getattr(c, name) != value:
                setattr(c, name, value.strip() if isinstance(value, str) and name.endswith("_name") else value)
                changed.append(name)
    # rows of numbers and addresses that stay are kept: replacing them all would insert a duplicate of a row that
    # is still there (the unit of work inserts before it deletes) and break the (contact, value) unique constraint
    # rows are listed by id and the first number or address is the one notices go to: a list that puts a new or
    # later value first is stored anew (the old rows gone first), in the order given
    if data.phones is not None and data.phones != [p.e164 for p in c.phones]:
        kept = {p.e164: p for p in c.phones}
        if not _keeps_order([p.e164 for p in c.phones], data.phones):
            c.phones = []
            await session.flush()
            kept = {}
        c.phones = [kept.get(p) or ContactPhone(ente_id=ente_id, e164=p) for p in data.phones]
        changed.append("phones")
    if data.emails is not None and data.emails != [e.email for e in c.emails]:
        kept_e = {e.email: e for e in c.emails}
        if not _keeps_order([e.email for e in c.emails], data.emails):
            c.emails = []
            await session.flush()
            kept_e = {}
        c.emails = [kept_e.get(e) or ContactEmail(ente_id=ente_id, email=e) for e in data.emails]
        changed.append("emails")
    await session.flush()
    return c, changed


def _keeps_order(old: list[str], new: list[str]) -> bool:
    """Whether ``new`` is the remaining old values in their order followed by the added ones (what rows listed by id
    give without being stored anew)."""
    remaining = [v for v in old if v in new]
    return new == remaining + [v for v in new if v not in old]


def search_stmt(*, ente_id: int, q: str | None, include_merged: bool = False) -> Select[tuple[Contact]]:
    """Search by name words, fiscal code, phone (any format) or e-mail."""
    stmt = select(Contact).where(Contact.ente_id == ente_id)
    if not include_merged:
        stmt = stmt.where(Contact.merged_into_id.is_(None))
    q = (q or "").strip()
    if not q:
        return stmt
    conds: list[Any] = []
    if "@" in q:
        sub = select(ContactEmail.contact_id).where(
            ContactEmail.ente_id == ente_id, ContactEmail.email.contains(q.lower())
        )
        conds.append(Contact.id.in_(sub))
    digits = re.sub(r"[^\d+]", "", q)
    if len(re.sub(r"\D", "", digits)) >= 6:
        try:
            needle = normalise_phone(q)
        except ValueError:
            needle = re.sub(r"\D", "", digits)
        sub = select(ContactPhone.contact_id).where(ContactPhone.ente_id == ente_id, ContactPhone.e164.contains(needle))
        conds.append(Contact.id.in_(sub))
    if re.fullmatch(r"[A-Za-z0-9]{6,16}", q) and any(ch.isdigit() for ch in q):
        conds.append(Contact.fiscal_code.startswith(q.upper()))
    words = [w for w in re.split(r"\s+", q) if w and "@" not in w]
    if words and not conds:
        name_conds = []
        for w in words:
            like = f"%{w.lower()}%"
            name_conds.append(or_(func.lower(Contact.first_name).like(like), func.lower(Contact.last_name).like(like)))
        conds.append(_and_all(name_conds))
    return stmt.where(or_(*conds))


def _and_all(conds: list[Any]) -> Any:
    from sqlalchemy import and_

    return and_(*conds)


def _by_identity(stmt: Any, *, ente_id: Any, channel: Any, external_id: Any) -> Any:
    """``stmt`` (a select of Contact or its columns) narrowed to the contact behind one channel address (values, or
    bind parameters for a statement built once)."""
    return stmt.join(ContactIdentity, ContactIdentity.contact_id == Contact.id).where(
        ContactIdentity.ente_id == ente_id,
        ContactIdentity.channel == channel,
        ContactIdentity.external_id == external_id,
    )


async def find_by_identity(session: AsyncSession, *, ente_id: int, channel: str, external_id: str) -> Contact | None:
    return await session.scalar(
        _by_identity(select(Contact), ente_id=ente_id, channel=channel, external_id=external_id)
    )


# built once: the accept runs it for every message, and building a statement costs as much CPU as running it
_ID_BY_IDENTITY = _by_identity(
    select(Contact.id, Contact.merged_into_id),
    ente_id=bindparam("ente_id"),
    channel=bindparam("channel"),
    external_id=bindparam("external_id"),
)


async def contact_id_for_identity(
    session: AsyncSession,
    *,
    ente_id: int,
    channel: str,
    external_id: str,
    phone: str | None = None,
    first_name: str = "",
) -> tuple[int, bool]:
    """``find_or_create_by_identity`` for the hub's accept, which needs only the id, on every message: one query
    for a known citizen instead of four (a Contact loads its phones, e-mails and identities with it)."""
    row = (
        await session.execute(_ID_BY_IDENTITY, {"ente_id": ente_id, "channel": channel, "external_id": external_id})
    ).first()
    if row is None:
        c, created = await find_or_create_by_identity(
            session, ente_id=ente_id, channel=channel, external_id=external_id, phone=phone, first_name=first_name
        )
        return c.id, created
    contact_id, merged_into = row
    while merged_into is not None:  # follow merges to the surviving record
        contact_id = merged_into
        merged_into = (await get(session, ente_id=ente_id, contact_id=contact_id)).merged_into_id
    return contact_id, False


async def find_by_phone(session: AsyncSession, *, ente_id: int, e164: str) -> Contact | None:
    return await session.scalar(
        select(Contact)
        .join(ContactPhone, ContactPhone.contact_id == Contact.id)
        .where(ContactPhone.ente_id == ente_id, ContactPhone.e164 == e164, Contact.merged_into_id.is_(None))
        .order_by(Contact.id)
        .limit(1)
    )


async def find_or_create_by_identity(
    session: AsyncSession,
    *,
    ente_id: int,
    channel: str,
    external_id: str,
    phone: str | None = None,
    first_name: str = "",
) -> tuple[Contact, bool]:
    """The channel hub's entry: the contact behind a channel address, created on first contact."""
    c = await find_by_identity(session, ente_id=ente_id, channel=channel, external_id=external_id)
    if c is not None:
        while c.merged_into_id is not None:  # follow merges to the surviving record
            c = await get(session, ente_id=ente_id, contact_id=c.merged_into_id)
        return c, False
    if phone:
        c = await find_by_phone(session, ente_id=ente_id, e164=phone)
    created = c is None
    if c is None:
        c = Contact(ente_id=ente_id, first_name=first_name, preferred_channel=channel)
        if phone:
            c.phones = [ContactPhone(ente_id=ente_id, e164=phone)]
        session.add(c)
        await session.flush()
    session.add(ContactIdentity(ente_id=ente_id, contact_id=c.id, channel=channel, external_id=external_id))
    await session.flush()
    await session.refresh(c, ["identities"])
    return c, created


async def merge(session: AsyncSession, *, ente_id: int, target_id: int, source_id: int) -> Contact:
    """Fold a duplicate into the target: every row of every table pointing at the source now points at the target.

    Generic on purpose: bookings, istanze and later modules are re-pointed without knowing about merge.
    The source stays, marked ``merged_into_id``, so its id in old links and the audit log still resolves.
    """
    if target_id == source_id:
        raise ValidationFailed("cannot merge a contact into itself", fields={"source_id": "same as target"})
    target = await get(session, ente_id=ente_id, contact_id=target_id)
    source = await get(session, ente_id=ente_id, contact_id=source_id)
    if source.merged_into_id is not None or target.merged_into_id is not None:
        raise Conflict("one of the contacts was already merged")
    have_phones = {p.e164 for p in target.phones}
    have_emails = {e.email for e in target.emails}
    for p in list(source.phones):
        if p.e164 not in have_phones:
            target.phones.append(ContactPhone(ente_id=ente_id, e164=p.e164))
    for e in list(source.emails):
        if e.email not in have_emails:
            target.emails.append(ContactEmail(ente_id=ente_id, email=e.email))
    source.phones.clear()
    source.emails.clear()
    await session.flush()
    await session.execute(
        update(ContactIdentity).where(ContactIdentity.contact_id == source.id).values(contact_id=target.id)
    )
    for field in ("first_name", "last_name", "preferred_channel"):
        if not getattr(target, field) and getattr(source, field):
            setattr(target, field, getattr(source, field))
    if not target.fiscal_code and source.fiscal_code:
        cf, source.fiscal_code = source.fiscal_code, None
        await session.flush()
        target.fiscal_code = cf
    target.verified_identity = target.verified_identity or source.verified_identity
    # a duplicate's conflicts stay with it: the target's own details are what an operator resolves
    skip = {"contacts", "contact_phones", "contact_emails", "contact_identities", "contact_conflicts"}
    for table in Base.metadata.sorted_tables:
        if table.name in skip:
            continue
        for col in table.columns:
            if any(fk.column.table.name == "contacts" and fk.column.name == "id" for fk in col.foreign_keys):
                await session.execute(table.update().where(col == source.id).values({col.name: target.id}))
    source.merged_into_id = target.id
    await session.flush()
    await session.refresh(target, ["phones", "emails", "identities"])
    return target


async def link_identity(
    session: AsyncSession, *, ente_id: int, contact_id: int, channel: str, external_id: str
) -> tuple[str, int | None] | None:
    """Make ``(channel, external_id)`` an identity of ``contact_id``. Returns what happened, ("added" | "moved" |
    "merged", the contact it came from), or None when it was already there. The throw-away contact created at the
    first message is folded into the known one (keeping its history) when it holds nothing else."""
    target = await get(session, ente_id=ente_id, contact_id=contact_id)
    ident = await session.scalar(
        select(ContactIdentity).where(
            ContactIdentity.ente_id == ente_id,
            ContactIdentity.channel == channel,
            ContactIdentity.external_id == external_id,
        )
    )
    if ident is not None and ident.contact_id == target.id:
        return None
    if ident is None:
        session.add(ContactIdentity(ente_id=ente_id, contact_id=target.id, channel=channel, external_id=external_id))
        await session.flush()
        return "added", None
    old = await session.get(Contact, ident.contact_id)
    if old is not None and not old.fiscal_code and not old.phones:
        await merge(session, ente_id=ente_id, target_id=target.id, source_id=old.id)
        return "merged", old.id
    previous, ident.contact_id = ident.contact_id, target.id
    await session.flush()
    return "moved", previous

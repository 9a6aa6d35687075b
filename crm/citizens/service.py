"""The citizen's side of identity: a verified SPID/CIE identity becomes (or finds) their contact, a server-side
session (a row of the shared sessions table, ``crm.core.sessions``, as for operators), and, with their consent, the
contacts their chats created are folded into it. No HTTP here."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm.audit import service as audit
from crm.citizens.models import CitizenLogin, CitizenSession, MergeRefusal
from crm.citizens.oidc import AuthRequest, VerifiedIdentity
from crm.contacts import service as contacts
from crm.contacts.models import Contact, ContactEmail, ContactIdentity, ContactPhone
from crm.contacts.schemas import normalise_phone
from crm.core import sessions
from crm.core.auth import Principal
from crm.core.sessions import AuthSession
from crm.db import utcnow

LOGIN_TTL = timedelta(minutes=10)
CITIZEN_ROLE = "citizen"
TOUCH_EVERY = timedelta(seconds=60)  # last_seen is written at most once a minute per session


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def principal_for(contact: Contact) -> Principal:
    """The citizen acting on their own records: commands and policies see role ``citizen`` and the contact id."""
    return Principal(
        ente_id=contact.ente_id,
        role=CITIZEN_ROLE,
        operator_id=None,
        username=f"cittadino:{contact.id}",
        contact_id=contact.id,
    )


def contact_id_of(principal: Principal) -> int | None:
    return principal.contact_id if principal.role == CITIZEN_ROLE else None


async def start_login(session: AsyncSession, *, ente_id: int, provider: str, auth: AuthRequest, next_path: str) -> None:
    now = utcnow()
    await session.execute(delete(CitizenLogin).where(CitizenLogin.expires_at < now))
    session.add(
        CitizenLogin(
            ente_id=ente_id,
            state_hash=digest(auth.state),
            provider=provider,
            nonce=auth.nonce,
            code_verifier=auth.code_verifier,
            next_path=next_path,
            expires_at=now + LOGIN_TTL,
        )
    )
    await session.flush()


async def take_login(session: AsyncSession, *, ente_id: int, state: str) -> CitizenLogin | None:
    """The pending sign-in of this state, removed so a callback is never accepted twice; None when unknown/expired."""
    row = await session.scalar(
        select(CitizenLogin).where(CitizenLogin.ente_id == ente_id, CitizenLogin.state_hash == digest(state))
    )
    if row is None:
        return None
    await session.delete(row)
    await session.flush()
    return row if row.expires_at > utcnow() else None


async def contact_for_identity(session: AsyncSession, *, ente_id: int, ident: VerifiedIdentity) -> Contact:
    """The contact of this codice fiscale (created when new). A verified identity fills what the comune did not know
    yet and marks the contact verified; names an operator typed are not overwritten."""
    c = await session.scalar(
        select(Contact).where(
            Contact.ente_id == ente_id, Contact.fiscal_code == ident.fiscal_code, Contact.merged_into_id.is_(None)
        )
    )
    if c is None:
        c = Contact(
            ente_id=ente_id,
            fiscal_code=ident.fiscal_code,
            first_name=ident.given_name,
            last_name=ident.family_name,
            consent_notifications=True,
        )
        session.add(c)
        await session.flush()
        await session.refresh(c, ["phones", "emails", "identities"])
    c.verified_identity = True
    c.first_name = c.first_name or ident.given_name
    c.last_name = c.last_name or ident.family_name
    if ident.email and ident.email.lower() not in {e.email.lower() for e in c.emails}:
        c.emails.append(ContactEmail(ente_id=ente_id, email=ident.email.lower()))
    if ident.phone:
        try:
            e164 = normalise_phone(ident.phone)
        except ValueError:
            e164 = None
        if e164 and e164 not in {p.e164 for p in c.phones}:
            c.phones.append(ContactPhone(ente_id=ente_id, e164=e164))
    await session.flush()
    return c


SESSION_KIND = "citizen"


def cookie_value(secret: str, sid: str) -> str:
    """The session cookie: the shared session's id and an HMAC of it (only this installation can mint one)."""
    return f"{sid}.{_mac(secret, sid)}"


def sid_of(secret: str, cookie: str) -> str | None:
    sid, _, mac = (cookie or "").partition(".")
    return sid if sid and mac and hmac.compare_digest(mac, _mac(secret, sid)) else None


def _mac(secret: str, sid: str) -> str:
    return hmac.new(secret.encode(), b"citizen-session:" + sid.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class SignedIn:
    contact: Contact
    sid: str
    session: CitizenSession


async def sign_in(session: AsyncSession, *, ente_id: int, ident: VerifiedIdentity, minutes: int) -> SignedIn:
    contact = await contact_for_identity(session, ente_id=ente_id, ident=ident)
    shared = await sessions.open_session(
        session, ente_id=ente_id, kind=SESSION_KIND, subject_id=contact.id, ttl=timedelta(minutes=minutes)
    )
    now = utcnow()
    row = CitizenSession(
        ente_id=ente_id,
        sid=shared.id,
        contact_id=contact.id,
        provider=ident.provider,
        level=ident.level,
        acr=ident.acr[:100],
        created_at=now,
        last_seen_at=now,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        principal=principal_for(contact),
        action="sign_in",
        entity="contact",
        entity_id=contact.id,
        details={"provider": ident.provider, "level": ident.level},
    )
    return SignedIn(contact=contact, sid=shared.id, session=row)


async def resolve(
    session: AsyncSession, *, sid: str | None, idle_minutes: int
) -> tuple[CitizenSession, Contact] | None:
    """The live session of this id and its contact (following merges), or None: revoked or expired in the shared
    table, idle too long, or its contact erased."""
    if not sid:
        return None
    shared = await session.get(AuthSession, sid)
    now = utcnow()
    if shared is None or shared.kind != SESSION_KIND or shared.revoked_at is not None or shared.expires_at <= now:
        return None
    row = await session.scalar(select(CitizenSession).where(CitizenSession.sid == sid))
    if row is None or row.last_seen_at + timedelta(minutes=idle_minutes) <= now:
        return None
    contact = await session.get(Contact, row.contact_id)
    while contact is not None and contact.merged_into_id is not None:
        contact = await session.get(Contact, contact.merged_into_id)
    if contact is None or contact.anonymised_at is not None:
        return None
    return row, contact


async def touch(session: AsyncSession, row: CitizenSession) -> None:
    if utcnow() - row.last_seen_at >= TOUCH_EVERY:
        await session.execute(update(CitizenSession).where(CitizenSession.id == row.id).values(last_seen_at=utcnow()))


async def sign_out(session: AsyncSession, *, row: CitizenSession, contact: Contact, everywhere: bool) -> int:
    """End this session, or every session of the citizen on every device (in the shared table, like an operator's
    logout). Returns how many ended."""
    if everywhere:
        # by the contact the sessions belong to now (a merge re-points citizen_sessions, not the shared rows)
        sids = (await session.scalars(select(CitizenSession.sid).where(CitizenSession.contact_id == contact.id))).all()
        ended = sum([await sessions.revoke(session, sid, why="logout everywhere") for sid in sids])
    else:
        ended = int(await sessions.revoke(session, row.sid, why="logout"))
    await audit.record(
        session,
        principal=principal_for(contact),
        action="sign_out",
        entity="contact",
        entity_id=contact.id,
        details={"everywhere": everywhere},
    )
    return ended


async def merge_candidates(session: AsyncSession, contact: Contact) -> list[Contact]:
    """Contacts that the citizen's chats, SMS or calls created with the same phone or e-mail and no fiscal code:
    the citizen may fold them into their verified profile (never done without asking)."""
    phones = [p.e164 for p in contact.phones]
    emails = [e.email.lower() for e in contact.emails]
    if not phones and not emails:
        return []
    conds = []
    if phones:
        conds.append(
            Contact.id.in_(
                select(ContactPhone.contact_id).where(
                    ContactPhone.ente_id == contact.ente_id, ContactPhone.e164.in_(phones)
                )
            )
        )
    if emails:
        conds.append(
            Contact.id.in_(
                select(ContactEmail.contact_id).where(
                    ContactEmail.ente_id == contact.ente_id, ContactEmail.email.in_(emails)
                )
            )
        )
    refused = select(MergeRefusal.source_id).where(MergeRefusal.contact_id == contact.id)
    rows = await session.scalars(
        select(Contact)
        .where(
            Contact.ente_id == contact.ente_id,
            Contact.id != contact.id,
            Contact.fiscal_code.is_(None),
            Contact.merged_into_id.is_(None),
            Contact.anonymised_at.is_(None),
            Contact.id.not_in(refused),
            or_(*conds),
        )
        .order_by(Contact.id)
    )
    return list(rows.all())


async def merge_with_consent(session: AsyncSession, *, contact: Contact, source_id: int) -> Contact:
    """Fold one of ``merge_candidates`` into the citizen's contact (anything else is refused as unknown)."""
    await _candidate(session, contact, source_id)
    return await contacts.merge(session, ente_id=contact.ente_id, target_id=contact.id, source_id=source_id)


async def refuse_merge(session: AsyncSession, *, contact: Contact, source_id: int) -> None:
    """The citizen's "no": the contact stays apart, its records stay out of the area personale, and the offer is
    not made again."""
    await _candidate(session, contact, source_id)
    session.add(MergeRefusal(ente_id=contact.ente_id, contact_id=contact.id, source_id=source_id))
    await session.flush()


async def _candidate(session: AsyncSession, contact: Contact, source_id: int) -> None:
    from crm.core.errors import NotFound

    if source_id not in {c.id for c in await merge_candidates(session, contact)}:
        raise NotFound("contatto non trovato")


async def link_web_chat(session: AsyncSession, *, contact: Contact, chat_session: str) -> bool:
    """The chat widget's session on the citizen's own browser now belongs to the signed-in contact, so the
    assistant knows who is writing. A throw-away contact made by that chat (no fiscal code, phone or e-mail) is
    folded in, keeping its conversation; a chat session known to another real person is left alone."""
    ident = await session.scalar(
        select(ContactIdentity).where(
            ContactIdentity.ente_id == contact.ente_id,
            ContactIdentity.channel == "web",
            ContactIdentity.external_id == chat_session,
        )
    )
    if ident is None:
        session.add(
            ContactIdentity(ente_id=contact.ente_id, contact_id=contact.id, channel="web", external_id=chat_session)
        )
        await session.flush()
        return True
    if ident.contact_id == contact.id:
        return True
    old = await session.get(Contact, ident.contact_id)
    if old is None or old.fiscal_code or old.phones or old.emails:
        return False
    await contacts.merge(session, ente_id=contact.ente_id, target_id=contact.id, source_id=old.id)
    return True

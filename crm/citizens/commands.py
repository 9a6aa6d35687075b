"""The citizen's own changes to their profile on the sportello digitale, one function each: permission (their own
contact only), service call, audit line, live event. See ``crm/core/commands.py`` for the pattern."""

from __future__ import annotations

from crm.citizens import policies
from crm.citizens import service as svc
from crm.contacts import service as contacts
from crm.contacts.models import Contact
from crm.contacts.schemas import ContactIn
from crm.core.auth import CITIZEN, Principal
from crm.core.commands import Context, command
from crm.core.errors import Forbidden


def visitor(ente_id: int) -> Principal:
    """Someone on the sportello who has not signed in: a citizen with no contact yet, admitted by no policy until
    ``register_visitor`` gives them one."""
    return Principal(ente_id=ente_id, role=CITIZEN, operator_id=None, username="visitatore")


@command(policies.VISIT)
async def register_visitor(cx: Context, *, data: ContactIn) -> Contact:
    """A visitor leaves their name and recapiti with a booking or a segnalazione: their contact is created and the
    context acts as that citizen from here on (the booking or the request that follows is theirs)."""
    if not cx.principal.is_citizen or cx.principal.contact_id is not None:
        raise Forbidden("only a visitor who has not signed in registers this way")
    contact = await contacts.create(cx.session, ente_id=cx.ente_id, data=data)
    cx.principal = svc.principal_for(contact)
    cx.allow(policies.VISIT, owner=contact.id)
    await cx.record("create", "contact", contact.id, details={"visitor": True})
    return contact


@command(policies.MERGE)
async def merge(cx: Context, *, contact: Contact, source_id: int) -> Contact:
    """Yes: fold one of the citizen's merge candidates into their verified contact."""
    cx.allow(policies.MERGE, owner=contact.id)
    merged = await svc.merge_with_consent(cx.session, contact=contact, source_id=source_id)
    await cx.record("merge", "contact", contact.id, details={"source_id": source_id, "consent": "citizen"})
    await cx.record("merged_into", "contact", source_id, details={"target_id": contact.id, "consent": "citizen"})
    return merged


@command(policies.MERGE)
async def refuse_merge(cx: Context, *, contact: Contact, source_id: int) -> None:
    """No: the candidate stays apart and is not offered again."""
    cx.allow(policies.MERGE, owner=contact.id)
    await svc.refuse_merge(cx.session, contact=contact, source_id=source_id)
    await cx.record("merge_refused", "contact", contact.id, details={"source_id": source_id})


@command(policies.LINK_CHAT)
async def link_chat(cx: Context, *, contact: Contact, chat_session: str) -> bool:
    """The chat widget's session on the citizen's browser now names them (see ``service.link_web_chat``)."""
    cx.allow(policies.LINK_CHAT, owner=contact.id)
    linked = await svc.link_web_chat(cx.session, contact=contact, chat_session=chat_session)
    await cx.record("link_chat", "contact", contact.id, details={"linked": linked})
    return linked

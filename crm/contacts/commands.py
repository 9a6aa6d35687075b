"""Every change to a contact, one function each: permission, service call, audit line, live event; and the audited
reads of contacts (search, read, GDPR export).

The channel webhooks use ``set_opt_out`` and ``link_identity`` (as the system: a citizen's STOP or a shared phone
number), the API and the console everything else. ``erase`` is the GDPR erasure: every store that can hold the
person's data (``crm.contacts.erasure``), then, once the database has committed, their files and Rasa's tracker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm.config import get_settings
from crm.contacts import erasure, gdpr, identity, policies
from crm.contacts import service as svc
from crm.contacts.models import Contact, ContactConflict
from crm.contacts.schemas import CapturedIn, ContactIn, ContactPatch
from crm.core.commands import Context, command
from crm.core.errors import Conflict
from crm.db import checkpoint_sqlite

log = logging.getLogger(__name__)


@command(policies.REGISTER)
async def create(cx: Context, *, data: ContactIn) -> Contact:
    """A new contact (a citizen's own comes from their sign-in, not from here)."""
    c = await svc.create(cx.session, ente_id=cx.ente_id, data=data)
    await cx.record("create", "contact", c.id)
    return c


@command(policies.EDIT)
async def update(cx: Context, *, contact_id: int, data: ContactPatch) -> tuple[Contact, list[str]]:
    """Change details or consents. Returns the contact and the fields that changed (none: nothing recorded)."""
    cx.allow(policies.EDIT, owner=contact_id)
    c, changed = await svc.update_contact(cx.session, ente_id=cx.ente_id, contact_id=contact_id, data=data)
    if changed:
        await cx.record("update", "contact", c.id, details={"fields": changed})
    return c, changed


@command(policies.MERGE)
async def merge(cx: Context, *, target_id: int, source_id: int) -> Contact:
    """Fold a duplicate into ``target_id``: both contacts change, each has its line."""
    c = await svc.merge(cx.session, ente_id=cx.ente_id, target_id=target_id, source_id=source_id)
    await cx.record("merge", "contact", c.id, details={"source_id": source_id})
    await cx.record("merged_into", "contact", source_id, details={"target_id": c.id})
    return c


@command(policies.CAPTURE)
async def capture(cx: Context, *, contact_id: int, data: CapturedIn, source: str = "assistant") -> identity.Captured:
    """What the citizen gave about themselves (in an assistant's form, or the e-mail they asked the transcript at:
    ``source``): the contact's empty details filled, differing ones kept as conflicts. The audit line names the
    fields, never their values; nothing new: nothing recorded."""
    done = await identity.capture(cx.session, ente_id=cx.ente_id, contact_id=contact_id, data=data)
    if done.filled or done.conflicts or done.skipped:
        details: dict[str, Any] = {"filled": done.filled, "conflicts": done.conflicts, "source": source}
        if done.skipped:
            details["skipped"] = done.skipped
        await cx.record("capture", "contact", done.contact.id, details=details)
    return done


@command(policies.RESOLVE)
async def resolve_conflict(cx: Context, *, contact_id: int, conflict_id: int, use: bool) -> ContactConflict:
    """An operator's choice on a conflict: the citizen's value ("usa questo") or the contact's ("mantieni")."""
    _, conflict = await identity.resolve(
        cx.session, ente_id=cx.ente_id, contact_id=contact_id, conflict_id=conflict_id, use=use
    )
    await cx.record(
        "resolve_conflict",
        "contact",
        contact_id,
        details={"conflict_id": conflict.id, "field": conflict.field, "resolution": conflict.resolution},
    )
    return conflict


def tracker_url(settings: Any) -> str:
    """Where Rasa keeps its trackers: ``URP_RASA_TRACKER_URL``, by default the SQLite file ``scripts/rasa_run.sh``
    gives Rasa (``var/rasa_tracker.db``)."""
    return settings.rasa_tracker_url or f"sqlite:///{Path(settings.var_dir).resolve() / 'rasa_tracker.db'}"


@dataclass
class Erased:
    contact: Contact
    stores: dict[str, int]  # rows anonymised per table; "files" and "rasa_tracker_events" once committed
    files: int = 0
    tracker_events: int = 0
    after_commit: list[str] = field(default_factory=list)


@command(policies.ERASE)
async def erase(cx: Context, *, contact_id: int) -> Erased:
    """Erase a citizen everywhere (admins). Already erased: 409. The audit line keeps the counts, no data; the files
    and Rasa's tracker events go only after the commit (a failed erasure must not have deleted them), and the
    returned counts include them once the context has closed."""
    settings = cx.app.ctx.settings if cx.app is not None else get_settings()
    c = await svc.get(cx.session, ente_id=cx.ente_id, contact_id=contact_id)
    if c.anonymised_at is not None:
        raise Conflict("the contact's data has already been erased", code="already_erased")
    done = await erasure.erase_everywhere(
        cx.session, ente_id=cx.ente_id, contact_id=contact_id, files_root=Path(settings.var_dir) / "attachments"
    )
    await cx.record(
        "erase",
        "contact",
        contact_id,
        details={"stores": done.counts, "conversations": len(done.tracker_senders), "files": len(done.files)},
        event={"type": "contact.erased", "contact_id": contact_id},
    )
    await cx.session.refresh(c, ["phones", "emails", "identities"])
    result = Erased(contact=c, stores=dict(done.counts))

    engine = cx.session.bind

    async def purge() -> None:
        if not await checkpoint_sqlite(engine):  # the erased rows out of the WAL (crm.db)
            log.warning("erasure: a reader held the SQLite WAL for 5 s; the next complete checkpoint clears it")
        result.files = erasure.remove_files(done.files)
        result.tracker_events = await erasure.purge_tracker(tracker_url(settings), done.tracker_senders)
        result.stores.update(files=result.files, rasa_tracker_events=result.tracker_events)

    cx.after_commit(purge)
    return result


@command(policies.CHANNELS)
async def set_opt_out(cx: Context, *, contact_id: int, channel: str, opted_out: bool) -> Contact:
    """A citizen's STOP (or START) on a channel: no more messages there; on their only channel, no notifications."""
    cx.allow(policies.CHANNELS, owner=contact_id)
    c = await svc.get(cx.session, ente_id=cx.ente_id, contact_id=contact_id)
    current = set(c.opted_out_channels or [])
    c.opted_out_channels = sorted(current | {channel}) if opted_out else sorted(current - {channel})
    if opted_out and c.preferred_channel in (None, channel):
        c.consent_notifications = False
    await cx.session.flush()
    await cx.record("opt_out" if opted_out else "opt_in", "contact", c.id, details={"channel": channel})
    return c


@command(policies.CHANNELS)
async def link_identity(cx: Context, *, contact_id: int, channel: str, external_id: str) -> str | None:
    """A channel address (a Telegram chat) is this contact's: added, moved from the throw-away contact of the first
    message (folded in when it holds nothing else), or already there (None: nothing changed)."""
    cx.allow(policies.CHANNELS, owner=contact_id)
    outcome = await svc.link_identity(
        cx.session, ente_id=cx.ente_id, contact_id=contact_id, channel=channel, external_id=external_id
    )
    if outcome is not None:
        details: dict[str, Any] = {"channel": channel, "outcome": outcome[0]}
        if outcome[1] is not None:
            details["from_contact_id"] = outcome[1]
        await cx.record("link_identity", "contact", contact_id, details=details)
    return outcome[0] if outcome else None


# --- audited reads ----------------------------------------------------------------------------------------------------
@command(policies.VIEW)
async def read(cx: Context, *, contact_id: int) -> Contact:
    cx.allow(policies.VIEW, owner=contact_id)
    c = await svc.get(cx.session, ente_id=cx.ente_id, contact_id=contact_id)
    await cx.read("read", "contact", c.id)
    return c


@command(policies.EXPORT)
async def export(
    cx: Context, *, contact_id: int, fmt: str = "json", members: dict[str, Path] | None = None
) -> dict[str, Any]:
    """Everything held about the contact (GDPR art. 15/20); the files by reference, ``members`` (when given) filled
    with their paths for the archive (``gdpr.archive``)."""
    cx.allow(policies.EXPORT, owner=contact_id)
    settings = cx.app.ctx.settings if cx.app is not None else get_settings()
    data = await gdpr.export(
        cx.session,
        ente_id=cx.ente_id,
        contact_id=contact_id,
        files_root=Path(settings.var_dir) / "attachments",
        members=members,
    )
    await cx.read("export", "contact", contact_id, details={"format": fmt, "files": len(data.get("files", []))})
    return data

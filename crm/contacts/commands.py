"""Commands of the contacts domain: one function per change a user can make, owning the transaction, the permission,
the audit line and the live event (published after the commit). API handlers, console screens and the CLI only parse
and render.

``erase`` is the GDPR erasure: every store that can hold the person's data (``crm.contacts.erasure``), then, once the
database has committed, their files and Rasa's tracker events.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crm.audit import service as audit
from crm.contacts import erasure
from crm.contacts import service as contacts
from crm.contacts.schemas import ContactOut
from crm.core.auth import Principal
from crm.core.errors import Conflict, Forbidden
from crm.db import transaction
from crm.events import emit

ERASERS = ("admin",)


@dataclass(frozen=True)
class Erased:
    contact: ContactOut
    stores: dict[str, int]  # rows anonymised per table, files deleted, tracker events deleted
    files: int
    tracker_events: int


def tracker_url(settings: Any) -> str:
    """Where Rasa keeps its trackers: ``URP_RASA_TRACKER_URL``, by default the SQLite file ``scripts/rasa_run.sh``
    gives Rasa (``var/rasa_tracker.db``)."""
    return settings.rasa_tracker_url or f"sqlite:///{Path(settings.var_dir).resolve() / 'rasa_tracker.db'}"


async def erase(app: Any, principal: Principal, *, contact_id: int, screen: str = "api") -> Erased:
    """Erase a citizen everywhere (admins only). Already erased: 409. The audit line keeps the counts, no data."""
    if principal.role not in ERASERS:
        raise Forbidden("only an administrator may erase a citizen's data")
    settings = app.ctx.settings
    async with transaction(app.ctx.sessionmaker) as s:
        c = await contacts.get(s, ente_id=principal.ente_id, contact_id=contact_id)
        if c.anonymised_at is not None:
            raise Conflict("the contact's data has already been erased", code="already_erased")
        done = await erasure.erase_everywhere(s, ente_id=principal.ente_id, contact_id=contact_id,
                                              files_root=Path(settings.var_dir) / "attachments")
        await audit.record(s, principal=principal, action="erase", entity="contact", entity_id=contact_id,
                           details={"screen": screen, "stores": done.counts,
                                    "conversations": len(done.tracker_senders), "files": len(done.files)})
        await s.refresh(c, ["phones", "emails", "identities"])
        out = contacts.to_out(c)
    # after the commit: a failed erasure must not have deleted files or trackers of data that is still there
    files = erasure.remove_files(done.files)
    events = await erasure.purge_tracker(tracker_url(settings), done.tracker_senders)
    await emit(app, principal.ente_id, {"type": "contact.erased", "contact_id": contact_id})
    return Erased(contact=out, stores={**done.counts, "files": files, "rasa_tracker_events": events}, files=files,
                  tracker_events=events)

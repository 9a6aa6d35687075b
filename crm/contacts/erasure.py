"""GDPR erasure that erases: every store that can hold a citizen's words or identifiers, walked in one place.

Rows stay (statistics, protocolled istanze and the audit trail need their ids, dates and states), what identifies
or was said by the person goes:

- the contact (names, fiscal code, notes) and its phones, e-mails, channel identities, signed-in sessions, drafts;
- conversations (hand-off summaries), every message in them (texts, attachments and their files, provider payloads)
  and the comment of their satisfaction rating (the score stays);
- requests (subject, description), their history notes, a segnalazione's address and photos (files deleted);
- istanze (form data), their history notes, attachment names (files deleted);
- bookings (form fields), notifications (address, subject, text, e-mail copies), KB feedback on their
  conversations, and KB gaps that hold their questions or identifiers;
- the audit log: rows about their records, or naming them, keep who/what/when and lose their details;
- Rasa's tracker store: the events of their conversations (``purge_tracker``, after the commit).

Some stores are not linked to the contact by a key (KB gaps, audit details, ratings): they are searched for the
person's identifiers (name, fiscal code, phone numbers, e-mails, channel ids) and their message texts.
Tables are reached through the metadata, so a module that is not installed is simply skipped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Table,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from crm.contacts import service as contacts
from crm.contacts.models import Contact, ContactConflict, ContactEmail, ContactIdentity, ContactPhone
from crm.conversations import files as chat_files
from crm.db import Base, async_url, checkpoint_sqlite, utcnow, zero_what_is_deleted
from crm.registry import load_models

log = logging.getLogger("urp.erasure")

ERASED = "[dato cancellato su richiesta dell'interessato]"
AUDIT_ERASED = {"erased": True}


@dataclass
class Erasure:
    """What an erasure touched (counts only: no personal data), and what remains to do after the commit."""

    contact_id: int
    counts: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    tracker_senders: list[str] = field(default_factory=list)

    def add(self, store: str, n: int) -> None:
        if n:
            self.counts[store] = self.counts.get(store, 0) + n


def _tables() -> dict[str, Table]:
    load_models()
    return dict(Base.metadata.tables)


def identifiers(c: Contact) -> list[str]:
    """The strings that identify the person, as they may appear in free text (at least 4 characters)."""
    out = {c.first_name, c.last_name, f"{c.first_name} {c.last_name}".strip(), c.fiscal_code or ""}
    for p in c.phones:
        out |= {p.e164, p.e164.removeprefix("+"), p.e164.removeprefix("+39")}
    out |= {e.email for e in c.emails}
    out |= {i.external_id for i in c.identities}
    return sorted({s.strip() for s in out if s and len(s.strip()) >= 4}, key=str.lower)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _mentions(column: Any, needles: list[str]) -> Any:
    """SQL: the column's text contains one of the needles (case-insensitive)."""
    as_text = func.lower(cast(column, Text))
    return or_(*[as_text.contains(n.lower(), autoescape=True) for n in needles])


async def erase_everywhere(session: AsyncSession, *, ente_id: int, contact_id: int, files_root: Path) -> Erasure:
    """Anonymise the contact in every CRM store, in the caller's transaction. Files and Rasa's tracker are left to
    ``finish`` after the commit (a rolled-back erasure must not have deleted anything)."""
    from channels.turn_token import sender_of

    t = _tables()
    c = await contacts.get(session, ente_id=ente_id, contact_id=contact_id)
    # the duplicates folded into this contact are the same person
    people = [c]
    while True:
        more = (
            await session.scalars(
                select(Contact).where(
                    Contact.ente_id == ente_id,
                    Contact.merged_into_id.in_([x.id for x in people]),
                    Contact.id.notin_([x.id for x in people]),
                )
            )
        ).all()
        if not more:
            break
        people += list(more)
    ids = [x.id for x in people]
    needles: list[str] = []
    for x in people:
        await session.refresh(x, ["phones", "emails", "identities"])
        needles += identifiers(x)
    needles = sorted(set(needles), key=str.lower)
    done = Erasure(contact_id=c.id)

    conv_ids = list(
        (
            await session.scalars(
                select(t["conversations"].c.id).where(
                    t["conversations"].c.ente_id == ente_id, t["conversations"].c.contact_id.in_(ids)
                )
            )
        ).all()
    )
    said = [
        s
        for s in (
            await session.scalars(
                select(t["messages"].c.text).where(
                    t["messages"].c.conversation_id.in_(conv_ids), t["messages"].c.direction == "in"
                )
            )
        ).all()
        if s and s.strip()
    ]
    done.tracker_senders = [sender_of(i) for i in conv_ids]

    # the contact (and its merged duplicates) and what hangs on it
    for x in people:
        x.first_name, x.last_name, x.fiscal_code, x.notes = "", "", None, ""
        x.consent_notifications, x.consent_privacy, x.preferred_channel = False, False, None
        x.anonymised_at = utcnow()
    done.add("contacts", len(people))
    for model in (ContactPhone, ContactEmail, ContactIdentity, ContactConflict):
        done.add(model.__tablename__, _rowcount(await session.execute(delete(model).where(model.contact_id.in_(ids)))))
    for name in ("citizen_sessions", "sp_drafts"):
        if name in t:
            done.add(name, _rowcount(await session.execute(delete(t[name]).where(t[name].c.contact_id.in_(ids)))))

    # conversations and messages, and the files sent in them
    if conv_ids:
        m, cv = t["messages"], t["conversations"]
        sent = (await session.scalars(select(m.c.attachments).where(m.c.conversation_id.in_(conv_ids)))).all()
        done.files += [files_root / k for k in chat_files.keys_of(sent)]
        done.add(
            "messages",
            _rowcount(
                await session.execute(
                    update(m).where(m.c.conversation_id.in_(conv_ids)).values(text=ERASED, attachments=[], payload={})
                )
            ),
        )
        done.add(
            "conversations",
            _rowcount(
                await session.execute(
                    update(cv)
                    .where(cv.c.id.in_(conv_ids))
                    .values(handoff_summary="", handoff_context={}, anonymised_at=utcnow())
                )
            ),
        )
        if "conversation_ratings" in t:  # the satisfaction comment is the citizen's words; the score stays
            cr = t["conversation_ratings"]
            done.add(
                "conversation_ratings",
                _rowcount(
                    await session.execute(update(cr).where(cr.c.conversation_id.in_(conv_ids)).values(comment=""))
                ),
            )

    # requests (tickets), their history, a segnalazione's place and photos
    tk, te = t["tickets"], t["ticket_events"]
    ticket_ids = list(
        (await session.scalars(select(tk.c.id).where(tk.c.ente_id == ente_id, tk.c.contact_id.in_(ids)))).all()
    )
    if ticket_ids:
        done.add(
            "tickets",
            _rowcount(
                await session.execute(
                    update(tk).where(tk.c.id.in_(ticket_ids)).values(subject=ERASED[:200], description=ERASED)
                )
            ),
        )
        done.add(
            "ticket_events",
            _rowcount(await session.execute(update(te).where(te.c.ticket_id.in_(ticket_ids)).values(note=""))),
        )
        if "sp_report_places" in t:
            rp = t["sp_report_places"]
            done.add(
                "sp_report_places",
                _rowcount(await session.execute(update(rp).where(rp.c.ticket_id.in_(ticket_ids)).values(address=""))),
            )
        # a request's file stores (the phone desk's uploads, the sportello's photos): files go, rows keep a neutral name
        for table, neutral in (("ticket_files", "allegato-cancellato"), ("sp_report_files", "foto-cancellata")):
            if table not in t:
                continue
            tf = t[table]
            keys = (await session.scalars(select(tf.c.storage_key).where(tf.c.ticket_id.in_(ticket_ids)))).all()
            done.files += [files_root / k for k in keys if k]
            done.add(
                table,
                _rowcount(
                    await session.execute(update(tf).where(tf.c.ticket_id.in_(ticket_ids)).values(filename=neutral))
                ),
            )

    # istanze: the protocolled record stays, its content goes
    if "ist_instances" in t:
        ii, ie, ia = t["ist_instances"], t["ist_events"], t["ist_attachments"]
        inst_ids = list(
            (await session.scalars(select(ii.c.id).where(ii.c.ente_id == ente_id, ii.c.contact_id.in_(ids)))).all()
        )
        if inst_ids:
            done.add(
                "ist_instances",
                _rowcount(await session.execute(update(ii).where(ii.c.id.in_(inst_ids)).values(data={}))),
            )
            done.add(
                "ist_events",
                _rowcount(await session.execute(update(ie).where(ie.c.instance_id.in_(inst_ids)).values(note=""))),
            )
            keys = (await session.scalars(select(ia.c.storage_key).where(ia.c.instance_id.in_(inst_ids)))).all()
            done.files += [files_root / k for k in keys if k]
            done.add(
                "ist_attachments",
                _rowcount(
                    await session.execute(
                        update(ia).where(ia.c.instance_id.in_(inst_ids)).values(filename="allegato-cancellato")
                    )
                ),
            )
    else:
        inst_ids = []

    # bookings and notifications (every channel's copy: SMS, Telegram, e-mail, App IO)
    bk = t.get("bk_bookings")
    booking_ids: list[int] = []
    if bk is not None:
        booking_ids = list(
            (await session.scalars(select(bk.c.id).where(bk.c.ente_id == ente_id, bk.c.contact_id.in_(ids)))).all()
        )
        done.add(
            "bk_bookings",
            _rowcount(await session.execute(update(bk).where(bk.c.id.in_(booking_ids)).values(fields={}))),
        )
    n = t["notifications"]
    done.add(
        "notifications",
        _rowcount(
            await session.execute(
                update(n)
                .where(n.c.contact_id.in_(ids))
                .values(address="", subject="", text=ERASED, last_error="", attachment_name=None, attachment=None)
            )
        ),
    )

    # stores without a key to the contact: searched for the person's identifiers and words
    if "kb_gaps" in t:
        g = t["kb_gaps"]
        cond = [g.c.query.in_(said)] if said else []
        if needles:
            cond.append(_mentions(g.c.query, needles))
        if cond:
            done.add(
                "kb_gaps",
                _rowcount(
                    await session.execute(
                        # the question's vector too: it is made from the words erased
                        update(g)
                        .where(g.c.ente_id == ente_id, or_(*cond))
                        .values(query=ERASED, vector=None, embedder="")
                    )
                ),
            )
    fb = t.get("kb_feedback")
    if fb is not None:
        cond = [fb.c.conversation_id.in_(conv_ids)] if conv_ids else []
        if said:
            cond.append(fb.c.query.in_(said))
        if needles:
            cond.append(_mentions(fb.c.query, needles))
        if cond:
            done.add(
                "kb_feedback",
                _rowcount(
                    await session.execute(update(fb).where(fb.c.ente_id == ente_id, or_(*cond)).values(query=""))
                ),
            )
    if "sp_ratings" in t and needles:
        r = t["sp_ratings"]
        done.add(
            "sp_ratings",
            _rowcount(
                await session.execute(
                    update(r).where(r.c.ente_id == ente_id, _mentions(r.c.comment, needles)).values(comment="")
                )
            ),
        )
    a = t["audit_log"]
    linked = [
        ("contact", ids),
        ("conversation", conv_ids),
        ("ticket", ticket_ids),
        ("request", ticket_ids),
        ("instance", inst_ids),
        ("booking", booking_ids),
    ]
    about = [and_(a.c.entity == e, a.c.entity_id.in_(ids)) for e, ids in linked if ids]
    if needles:
        about.append(_mentions(a.c.details, needles))
    erased_json = json.dumps(AUDIT_ERASED)
    done.add(
        "audit_log",
        _rowcount(
            await session.execute(
                update(a)
                .where(a.c.ente_id == ente_id, or_(*about), cast(a.c.details, Text) != erased_json)
                .values(details=AUDIT_ERASED)
            )
        ),
    )
    await session.flush()
    return done


def remove_files(paths: list[Path]) -> int:
    """Delete attachment files (after the commit); their directories go when empty."""
    gone = 0
    for path in paths:
        if path.exists():
            path.unlink()
            gone += 1
        try:
            path.parent.rmdir()
        except OSError:
            pass
    return gone


async def purge_tracker(tracker_url: str | None, senders: list[str]) -> int:
    """Delete the events of these conversations from Rasa's SQL tracker store (table ``events``, SQLite or
    PostgreSQL). Rasa reads trackers from the store on every turn, so the next turn starts from nothing. Returns
    the number of events deleted; 0 when the store does not exist yet."""
    if not tracker_url or not senders:
        return 0
    if tracker_url.startswith("sqlite") and not Path(tracker_url.split("///", 1)[-1]).exists():
        return 0
    engine = create_async_engine(async_url(tracker_url))
    if engine.dialect.name == "sqlite":
        # the deleted events' bytes zeroed, the WAL emptied at Rasa's next write
        event.listen(engine.sync_engine, "connect", zero_what_is_deleted)
    try:
        async with engine.begin() as conn:
            has = await conn.run_sync(lambda c: c.dialect.has_table(c, "events"))
            if not has:
                return 0
            result = await conn.execute(
                text("DELETE FROM events WHERE sender_id IN :senders").bindparams(
                    bindparam("senders", expanding=True, value=list(senders))
                )
            )
            deleted = _rowcount(result)
        await checkpoint_sqlite(engine)
        return deleted
    finally:
        await engine.dispose()

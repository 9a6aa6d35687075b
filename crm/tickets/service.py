"""Requests: creation with SLA due time and auto-assignment, status machine, history, SLA compliance."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.contacts import service as contacts
from crm.conversations.models import Conversation
from crm.core import filetypes
from crm.core.auth import Principal
from crm.core.errors import Conflict, ValidationFailed
from crm.core.records import get_in_ente
from crm.core.workhours import add_working_hours
from crm.db import utcnow
from crm.entes import service as entes
from crm.instances.service import FileStore, file_problem
from crm.offices import service as offices
from crm.offices.models import Topic
from crm.operators.models import Operator, operator_topics
from crm.tickets.models import OPEN_STATUSES, Ticket, TicketEvent, TicketFile
from crm.tickets.schemas import TicketEventOut, TicketIn, TicketOut

# working hours to take a request in charge (service-desk SLA of the reference tender; promised in >= 90% of cases)
SLA_HOURS = {"alta": 8, "media": 12, "bassa": 16}
SLA_TARGET = 0.9

TRANSITIONS: dict[str, set[str]] = {
    "new": {"in_charge", "rejected"},
    "in_charge": {"waiting_citizen", "resolved", "rejected"},
    "waiting_citizen": {"in_charge", "resolved", "rejected"},
    "resolved": {"closed", "in_charge"},
    "closed": set(),
    "rejected": set(),
}
CODE_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY34679"  # no 0/O, 1/I/L, 2/Z, 5/S, 8/B look-alikes


def new_code(prefix: str = "RQ") -> str:
    return f"{prefix}-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


def sla_breached(t: Ticket, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return (t.taken_at or now) > t.due_at


def to_out(t: Ticket, topic_slug: str | None, *, with_events: bool = False) -> TicketOut:
    now = utcnow()
    remaining = None if t.taken_at or t.status not in OPEN_STATUSES else int((t.due_at - now).total_seconds())
    return TicketOut(
        id=t.id,
        code=t.code,
        contact_id=t.contact_id,
        kind=t.kind,
        topic=topic_slug,
        channel=t.channel,
        subject=t.subject,
        description=t.description,
        priority=t.priority,
        status=t.status,
        assignee_id=t.assignee_id,
        conversation_id=t.conversation_id,
        created_by_kind=t.created_by_kind,
        created_by_operator_id=t.created_by_operator_id,
        on_behalf=t.on_behalf,
        created_at=t.created_at.isoformat(),
        due_at=t.due_at.isoformat(),
        taken_at=_iso(t.taken_at),
        resolved_at=_iso(t.resolved_at),
        sla_breached=sla_breached(t, now),
        sla_remaining_seconds=remaining,
        events=[
            TicketEventOut(
                at=e.at.isoformat(),
                actor_kind=e.actor_kind,
                actor_name=e.actor_name,
                action=e.action,
                from_value=e.from_value,
                to_value=e.to_value,
                note=e.note,
            )
            for e in t.events
        ]
        if with_events
        else None,
    )


async def _event(
    session: AsyncSession,
    t: Ticket,
    actor: Principal | None,
    action: str,
    from_value: str | None = None,
    to_value: str | None = None,
    note: str = "",
) -> None:
    session.add(
        TicketEvent(
            ente_id=t.ente_id,
            ticket_id=t.id,
            actor_kind=actor.actor_kind if actor else "system",
            actor_operator_id=actor.operator_id if actor else None,
            actor_name=actor.username if actor else "system",
            action=action,
            from_value=from_value,
            to_value=to_value,
            note=note,
        )
    )


async def least_loaded_operator(session: AsyncSession, *, ente_id: int, topic_id: int) -> int | None:
    """The active operator competent for the topic with the fewest open requests (ties: lowest id)."""
    load = (
        select(Ticket.assignee_id, func.count().label("n"))
        .where(Ticket.ente_id == ente_id, Ticket.status.in_(OPEN_STATUSES))
        .group_by(Ticket.assignee_id)
        .subquery()
    )
    stmt = (
        select(Operator.id)
        .join(operator_topics, operator_topics.c.operator_id == Operator.id)
        .outerjoin(load, load.c.assignee_id == Operator.id)
        .where(
            Operator.ente_id == ente_id,
            Operator.active.is_(True),
            operator_topics.c.topic_id == topic_id,
            Operator.role.in_(("operator", "backoffice", "admin")),
        )
        .order_by(func.coalesce(load.c.n, 0), Operator.id)
        .limit(1)
    )
    return await session.scalar(stmt)


async def create(session: AsyncSession, *, principal: Principal, data: TicketIn) -> Ticket:
    ente_id = principal.ente_id
    await contacts.get(session, ente_id=ente_id, contact_id=data.contact_id)
    if data.conversation_id is not None:  # the citizen's own conversation, in this ente
        conv = await session.scalar(
            select(Conversation).where(Conversation.id == data.conversation_id, Conversation.ente_id == ente_id)
        )
        if conv is None or conv.contact_id != data.contact_id:
            raise ValidationFailed("unknown conversation for this contact", fields={"conversation_id": "unknown"})
    topic: Topic | None = None
    if data.topic:
        topic = await offices.get_topic_by_slug(session, ente_id=ente_id, slug=data.topic)
    if data.on_behalf and principal.is_service:
        raise ValidationFailed("only an operator can enter a request on behalf", fields={"on_behalf": "operators only"})
    created_by = "citizen" if principal.is_citizen else "bot" if principal.is_service else "operator"
    ente = await entes.get(session, ente_id)
    now = utcnow()
    t = Ticket(
        ente_id=ente_id,
        code=new_code(),
        contact_id=data.contact_id,
        kind=data.kind,
        topic_id=topic.id if topic else None,
        channel=data.channel,
        subject=data.subject.strip(),
        description=data.description,
        priority=data.priority,
        status="new",
        conversation_id=data.conversation_id,
        created_by_kind=created_by,
        created_by_operator_id=principal.operator_id,
        on_behalf=data.on_behalf,
        due_at=add_working_hours(now, SLA_HOURS[data.priority], entes.office_hours_of(ente)),
        created_at=now,
    )
    if topic is not None:
        t.assignee_id = await least_loaded_operator(session, ente_id=ente_id, topic_id=topic.id)
    session.add(t)
    await session.flush()
    note = f"inserita per conto del cittadino da {principal.username}" if data.on_behalf else ""
    await _event(session, t, principal, "created", to_value="new", note=note)
    if t.assignee_id:
        await _event(session, t, None, "assigned", to_value=str(t.assignee_id), note="assegnazione automatica")
    await session.flush()
    return t


async def get(session: AsyncSession, *, ente_id: int, ticket_id: int, lock: bool = False) -> Ticket:
    return await get_in_ente(session, Ticket, ente_id=ente_id, record_id=ticket_id, what="request", lock=lock)


async def load_events(session: AsyncSession, t: Ticket) -> None:
    await session.refresh(t, ["events"])


async def transition(session: AsyncSession, *, principal: Principal, ticket_id: int, to: str, note: str) -> Ticket:
    t = await get(session, ente_id=principal.ente_id, ticket_id=ticket_id, lock=True)
    if to not in TRANSITIONS[t.status]:
        raise Conflict(f"cannot go from {t.status!r} to {to!r}", code="illegal_transition")
    if to == "rejected" and not note.strip():
        raise ValidationFailed("a reason is required to reject", fields={"note": "required"})
    now = utcnow()
    previous, t.status = t.status, to
    if to == "in_charge":
        t.taken_at = t.taken_at or now
        if t.assignee_id is None and principal.operator_id:
            t.assignee_id = principal.operator_id
    elif to == "resolved":
        t.resolved_at = now
    elif to == "closed":
        t.closed_at = now
    elif to == "rejected":
        t.closed_at = now
    await _event(session, t, principal, "status", previous, to, note)
    await session.flush()
    return t


async def assign(session: AsyncSession, *, principal: Principal, ticket_id: int, operator_id: int | None) -> Ticket:
    t = await get(session, ente_id=principal.ente_id, ticket_id=ticket_id, lock=True)
    if operator_id is not None:
        op = await session.scalar(
            select(Operator).where(Operator.ente_id == principal.ente_id, Operator.id == operator_id)
        )
        if op is None or not op.active:
            raise ValidationFailed("unknown operator", fields={"operator_id": "unknown or inactive"})
    previous, t.assignee_id = t.assignee_id, operator_id
    await _event(
        session,
        t,
        principal,
        "assigned",
        str(previous) if previous else None,
        str(operator_id) if operator_id else None,
    )
    await session.flush()
    return t


async def set_priority(
    session: AsyncSession, *, principal: Principal, ticket_id: int, priority: str, note: str
) -> Ticket:
    t = await get(session, ente_id=principal.ente_id, ticket_id=ticket_id, lock=True)
    if t.priority == priority:
        return t
    ente = await entes.get(session, principal.ente_id)
    previous, t.priority = t.priority, priority
    t.due_at = add_working_hours(t.created_at, SLA_HOURS[priority], entes.office_hours_of(ente))
    await _event(session, t, principal, "priority", previous, priority, note)
    await session.flush()
    return t


async def add_note(session: AsyncSession, *, principal: Principal, ticket_id: int, note: str) -> Ticket:
    t = await get(session, ente_id=principal.ente_id, ticket_id=ticket_id)
    await _event(session, t, principal, "note", note=note)
    await session.flush()
    return t


async def add_file(session: AsyncSession, *, principal: Principal, ticket_id: int, ref: str, label: str) -> Ticket:
    """A file of the citizen's conversation attached to the request: its history names it (``ref`` is
    ``<message id>:<index>``, the file stays in the conversation's store and goes with it)."""
    t = await get(session, ente_id=principal.ente_id, ticket_id=ticket_id)
    await _event(session, t, principal, "file", to_value=ref[:50], note=label)
    await session.flush()
    return t


def list_stmt(*, ente_id: int, filters: dict[str, Any]) -> Select[tuple[Ticket]]:
    stmt = select(Ticket).where(Ticket.ente_id == ente_id)
    for name in ("status", "priority", "kind", "channel"):
        if filters.get(name):
            values = filters[name].split(",")
            stmt = stmt.where(getattr(Ticket, name).in_(values))
    for name in ("contact_id", "assignee_id", "topic_id"):
        if filters.get(name) is not None:
            stmt = stmt.where(getattr(Ticket, name) == filters[name])
    if filters.get("unassigned"):
        stmt = stmt.where(Ticket.assignee_id.is_(None))
    if filters.get("open"):
        stmt = stmt.where(Ticket.status.in_(OPEN_STATUSES))
    if filters.get("breached"):
        stmt = stmt.where(func.coalesce(Ticket.taken_at, utcnow()) > Ticket.due_at)
    if filters.get("q"):
        like = f"%{filters['q'].lower()}%"
        stmt = stmt.where(func.lower(Ticket.subject).like(like) | (Ticket.code == filters["q"].upper()))
    return stmt


async def sla_report(
    session: AsyncSession, *, ente_id: int, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    """Per priority: met / breached / pending take-in-charge SLAs and compliance against the 90% target, for the
    requests opened from ``since`` (included) to ``until`` (excluded)."""
    now = utcnow()
    stmt = select(Ticket.priority, Ticket.taken_at, Ticket.due_at).where(Ticket.ente_id == ente_id)
    if since:
        stmt = stmt.where(Ticket.created_at >= since)
    if until:
        stmt = stmt.where(Ticket.created_at < until)
    report: dict[str, Any] = {}
    for prio in SLA_HOURS:
        report[prio] = {"sla_hours": SLA_HOURS[prio], "total": 0, "met": 0, "breached": 0, "pending": 0}
    for prio, taken_at, due_at in (await session.execute(stmt)).all():
        r = report[prio]
        r["total"] += 1
        if taken_at is not None:
            r["met" if taken_at <= due_at else "breached"] += 1
        elif now > due_at:
            r["breached"] += 1
        else:
            r["pending"] += 1
    for r in report.values():
        decided = r["met"] + r["breached"]
        r["compliance"] = round(r["met"] / decided, 4) if decided else None
        r["meets_target"] = None if r["compliance"] is None else r["compliance"] >= SLA_TARGET
    return {"target": SLA_TARGET, "by_priority": report}


MAX_UPLOADS = 5  # files per upload


def file_refusals(files: list[tuple[str, bytes]], max_bytes: int) -> dict[str, str]:
    """The files that cannot be kept (the istanze's rules: PDF, JPEG, PNG or WebP by their magic number, the size
    limit, nothing empty): ``{file name: reason}``."""
    out: dict[str, str] = {}
    for name, body in files:
        ctype = filetypes.sniff(body) or "application/octet-stream"
        problem = file_problem(ctype, body, max_bytes)
        if problem is not None:
            out[name or "allegato"] = problem[1]
    return out


def past_retention(t: Ticket, closed_days: int) -> bool:
    """Concluded more than ``closed_days`` ago (``URP_RETENTION_CLOSED_DAYS``; 0 keeps for ever): its files are
    deleted by the next retention pass (``crm.contacts.retention``, same rule: last closing date, else last change)."""
    if closed_days <= 0 or t.status in OPEN_STATUSES:
        return False
    concluded = t.closed_at or t.resolved_at or t.updated_at
    return concluded < utcnow() - timedelta(days=closed_days)


async def add_uploads(
    session: AsyncSession,
    *,
    principal: Principal,
    ticket_id: int,
    files: list[tuple[str, bytes]],
    store: FileStore,
    closed_days: int,
) -> list[TicketFile]:
    """Files carried by the request (all or none: one refused file refuses the upload); each named in its history.
    A request past its retention (``past_retention``) takes none: the next retention pass would delete them.
    The caller discards the ``store``'s new files if the transaction rolls back."""
    t = await get(session, ente_id=principal.ente_id, ticket_id=ticket_id)
    if past_retention(t, closed_days):
        raise Conflict(
            f"the request was concluded more than {closed_days} days ago: past its retention period, it takes no files",
            code="past_retention",
        )
    if len(files) > MAX_UPLOADS:
        raise ValidationFailed(f"at most {MAX_UPLOADS} files", fields={"files": "too many"})
    refused = file_refusals(files, store.max_bytes)
    if refused:
        raise ValidationFailed("file refused", fields={"files": next(iter(refused.values()))})
    out = []
    for name, body in files:
        digest = hashlib.sha256(body).hexdigest()
        key = f"requests/{t.ente_id}/{t.id}/{digest}"
        store.write(key, body)
        f = TicketFile(
            ente_id=t.ente_id,
            ticket_id=t.id,
            filename=re.sub(r"[^\w.\- ]", "_", name)[:200] or "allegato",
            content_type=filetypes.sniff(body) or "application/octet-stream",
            size=len(body),
            sha256=digest,
            storage_key=key,
            uploaded_by_operator_id=principal.operator_id,
        )
        session.add(f)
        await session.flush()
        await _event(session, t, principal, "upload", to_value=str(f.id), note=f.filename)
        out.append(f)
    await session.flush()
    return out


async def uploads(session: AsyncSession, *, ente_id: int, ticket_id: int) -> list[TicketFile]:
    rows = await session.scalars(
        select(TicketFile)
        .where(TicketFile.ente_id == ente_id, TicketFile.ticket_id == ticket_id)
        .order_by(TicketFile.id)
    )
    return list(rows.all())

"""Istanze: submission (schema-validated, protocolled), lifecycle with a pausable statutory clock, notifications,
attachments stored outside the database, the citizen's look-up and the receipt."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.contacts import service as contacts
from crm.contacts.models import Contact
from crm.core import filetypes
from crm.core import lookup as citizen_lookup
from crm.core.auth import Principal
from crm.core.errors import Conflict, NotFound, ValidationFailed
from crm.core.records import get_in_ente
from crm.db import reading, transaction, utcnow
from crm.instances.models import Attachment, Instance, InstanceEvent, InstanceType, ProtocolOutbox, ReferenceItem
from crm.instances.protocol import ProtocolAdapter, ProtocolUnavailable
from crm.instances.schemas import (
    AttachmentIn,
    InstanceIn,
    InstanceTypeIn,
    InstanceTypePatch,
    ReferenceItemIn,
    ReferenceItemPatch,
)
from crm.notifications import service as notifications
from crm.offices import service as offices

CODE_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY34679"
FINAL = {"accepted", "rejected", "withdrawn"}
TRANSITIONS: dict[str, set[str]] = {
    "submitted": {"protocolled", "withdrawn"},
    "protocolled": {"in_charge", "withdrawn"},
    "in_charge": {"integration_requested", "accepted", "rejected", "withdrawn"},
    "integration_requested": {"integrated", "rejected", "withdrawn"},
    "integrated": {"integration_requested", "accepted", "rejected", "withdrawn"},
}
NOTIFY = {
    "protocolled": "è stata registrata al protocollo con il numero {protocol}.",
    "in_charge": "è stata presa in carico dall'ufficio competente.",
    "integration_requested": "richiede un'integrazione da parte sua: {note} Il termine del procedimento è sospeso "
    "fino alla sua risposta.",
    "accepted": "è stata accolta. {note}",
    "rejected": "non è stata accolta. Motivazione: {note}",
}
ALLOWED_TYPES = filetypes.ALLOWED  # PDF, JPEG, PNG, WebP (crm.core.filetypes: the one magic table)


def new_code() -> str:
    return "IS-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


async def get_type(session: AsyncSession, *, ente_id: int, slug: str, include_inactive: bool = False) -> InstanceType:
    """An active type (422 otherwise: unknown and deactivated types look the same to submitters); with
    ``include_inactive`` also a deactivated one (filters over existing istanze)."""
    stmt = select(InstanceType).where(InstanceType.ente_id == ente_id, InstanceType.slug == slug)
    if not include_inactive:
        stmt = stmt.where(InstanceType.active.is_(True))
    t = await session.scalar(stmt)
    if t is None:
        raise ValidationFailed(f"unknown instance type {slug!r}", fields={"type": "unknown type"})
    return t


async def _type_for_admin(session: AsyncSession, *, ente_id: int, slug: str) -> InstanceType:
    t = await session.scalar(select(InstanceType).where(InstanceType.ente_id == ente_id, InstanceType.slug == slug))
    if t is None:
        raise NotFound(f"instance type {slug!r} not found")
    return t


async def list_types(session: AsyncSession, *, ente_id: int, include_inactive: bool = False) -> Sequence[InstanceType]:
    stmt = select(InstanceType).where(InstanceType.ente_id == ente_id)
    if not include_inactive:
        stmt = stmt.where(InstanceType.active.is_(True))
    return (await session.scalars(stmt.order_by(InstanceType.title, InstanceType.id))).all()


def _check_form_schema(schema: dict[str, Any]) -> None:
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValidationFailed(f"invalid form_schema: {exc.message}", fields={"form_schema": exc.message}) from None


async def _check_office(session: AsyncSession, ente_id: int, office_id: int | None) -> None:
    if office_id is None:
        return
    try:
        await offices.get_office(session, ente_id=ente_id, office_id=office_id)
    except NotFound:
        raise ValidationFailed("unknown office", fields={"office_id": "unknown office"}) from None


async def create_type(session: AsyncSession, *, ente_id: int, data: InstanceTypeIn) -> InstanceType:
    if await session.scalar(
        select(InstanceType.id).where(InstanceType.ente_id == ente_id, InstanceType.slug == data.slug)
    ):
        raise Conflict(f"type {data.slug!r} exists", fields={"slug": "already used"})
    _check_form_schema(data.form_schema)
    await _check_office(session, ente_id, data.office_id)
    t = InstanceType(ente_id=ente_id, **data.model_dump())
    session.add(t)
    try:
        await session.flush()
    except IntegrityError:  # created concurrently by another request
        raise Conflict(f"type {data.slug!r} exists", fields={"slug": "already used"}) from None
    return t


async def update_type(
    session: AsyncSession, *, ente_id: int, slug: str, data: InstanceTypePatch
) -> tuple[InstanceType, list[str]]:
    """Partial update (admins); returns the type and the names of the fields that changed. Existing istanze keep
    their type whatever changes; a new form or required attachments apply to later submissions only."""
    t = await _type_for_admin(session, ente_id=ente_id, slug=slug)
    changed: list[str] = []
    for name in sorted(data.model_fields_set):
        value = getattr(data, name)
        if value is None and name != "office_id":
            continue  # null means "leave as is", except for the office, which may be detached
        if name == "form_schema":
            _check_form_schema(value)
        elif name == "office_id":
            await _check_office(session, ente_id, value)
        if getattr(t, name) != value:
            setattr(t, name, value)
            changed.append(name)
    if changed:
        await session.flush()
    return t, changed


async def deactivate_type(session: AsyncSession, *, ente_id: int, slug: str) -> tuple[InstanceType, bool]:
    """Soft delete: no new submissions; existing istanze keep it. Returns whether it was active."""
    t = await _type_for_admin(session, ente_id=ente_id, slug=slug)
    was_active, t.active = t.active, False
    await session.flush()
    return t, was_active


async def reference_values(session: AsyncSession, ente_id: int, list_slug: str) -> list[str]:
    return list(
        (
            await session.scalars(
                select(ReferenceItem.value).where(
                    ReferenceItem.ente_id == ente_id,
                    ReferenceItem.list_slug == list_slug,
                    ReferenceItem.active.is_(True),
                )
            )
        ).all()
    )


async def reference_items(
    session: AsyncSession, *, ente_id: int, list_slug: str, include_inactive: bool = False
) -> Sequence[ReferenceItem]:
    stmt = select(ReferenceItem).where(ReferenceItem.ente_id == ente_id, ReferenceItem.list_slug == list_slug)
    if not include_inactive:
        stmt = stmt.where(ReferenceItem.active.is_(True))
    return (await session.scalars(stmt.order_by(ReferenceItem.label, ReferenceItem.id))).all()


async def get_reference(session: AsyncSession, *, ente_id: int, list_slug: str, value: str) -> ReferenceItem:
    item = await session.scalar(
        select(ReferenceItem).where(
            ReferenceItem.ente_id == ente_id, ReferenceItem.list_slug == list_slug, ReferenceItem.value == value
        )
    )
    if item is None:
        raise NotFound(f"no entry {value!r} in reference list {list_slug!r}")
    return item


async def add_reference(session: AsyncSession, *, ente_id: int, list_slug: str, data: ReferenceItemIn) -> ReferenceItem:
    existing = await session.scalar(
        select(ReferenceItem).where(
            ReferenceItem.ente_id == ente_id, ReferenceItem.list_slug == list_slug, ReferenceItem.value == data.value
        )
    )
    if existing is not None:
        hint = "" if existing.active else " (deactivated: PATCH it with active=true)"
        raise Conflict(f"value {data.value!r} already in list {list_slug!r}{hint}", fields={"value": "already used"})
    item = ReferenceItem(ente_id=ente_id, list_slug=list_slug, value=data.value, label=data.label)
    session.add(item)
    try:
        await session.flush()
    except IntegrityError:  # added concurrently by another request
        raise Conflict(
            f"value {data.value!r} already in list {list_slug!r}", fields={"value": "already used"}
        ) from None
    return item


async def update_reference(
    session: AsyncSession, *, ente_id: int, list_slug: str, value: str, data: ReferenceItemPatch
) -> tuple[ReferenceItem, list[str]]:
    item = await get_reference(session, ente_id=ente_id, list_slug=list_slug, value=value)
    changed: list[str] = []
    for name in sorted(data.model_fields_set):
        new = getattr(data, name)
        if new is not None and getattr(item, name) != new:
            setattr(item, name, new)
            changed.append(name)
    if changed:
        await session.flush()
    return item, changed


async def deactivate_reference(
    session: AsyncSession, *, ente_id: int, list_slug: str, value: str
) -> tuple[ReferenceItem, bool]:
    """Soft delete: the value is no longer offered nor accepted by new submissions; past istanze keep it."""
    item = await get_reference(session, ente_id=ente_id, list_slug=list_slug, value=value)
    was_active, item.active = item.active, False
    await session.flush()
    return item, was_active


async def _data_errors(session: AsyncSession, t: InstanceType, data: dict[str, Any]) -> dict[str, str]:
    schema = dict(t.form_schema or {})
    # fields may point at an admin-managed reference list: {"x-reference": "albo-associazioni"}
    props = dict(schema.get("properties", {}))
    for name, prop in props.items():
        if isinstance(prop, dict) and prop.get("x-reference"):
            props[name] = {**prop, "enum": await reference_values(session, t.ente_id, prop["x-reference"])}
    schema["properties"] = props
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    fields: dict[str, str] = {}
    for e in validator.iter_errors(data):
        if e.validator == "required":
            for name in e.validator_value:
                if name not in data:
                    fields[f"data.{name}"] = "required"
        else:
            fields["data." + (".".join(str(p) for p in e.path) or "form")] = e.message
    return fields


@dataclass
class FileStore:
    """Where attachment files go (outside the database, content-addressed by ente, istanza and SHA-256) and the
    size limit. Files this command created are remembered, so the caller can ``discard()`` them when its
    transaction fails: no file is left behind for an istanza or attachment row that was never committed."""

    root: Path
    max_bytes: int
    created: list[Path] = field(default_factory=list)

    def write(self, key: str, body: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        tmp = path.with_suffix(".part")
        tmp.write_bytes(body)
        tmp.replace(path)  # content-addressed: a retried upload rewrites the same file
        if not existed:
            self.created.append(path)

    def discard(self) -> None:
        for path in reversed(self.created):
            path.unlink(missing_ok=True)
            try:
                path.parent.rmdir()  # the istanza's directory, if now empty
            except OSError:
                pass
        self.created.clear()


def file_problem(content_type: str, body: bytes, max_bytes: int) -> tuple[str, str] | None:
    """The upload rules, shared by the multipart endpoint and submissions: ``(what, reason)`` or None if fine."""
    if not body:
        return "content", "empty"
    if len(body) > max_bytes:
        return "content", "too large"
    if not filetypes.is_a(content_type, body):
        return "content_type", "type not allowed"
    return None


def _attachment_errors(t: InstanceType, files: Sequence[AttachmentIn], max_bytes: int) -> dict[str, str]:
    fields: dict[str, str] = {}
    for i, f in enumerate(files):
        problem = file_problem(f.content_type, f.body, max_bytes)
        if problem is not None:
            what, reason = problem
            fields[f"attachments.{i}." + ("content_base64" if what == "content" else what)] = reason
    present = {f.kind for f in files}
    for kind in t.required_attachments or []:
        if kind not in present:
            fields[f"attachments.{kind}"] = "required"
    return fields


async def _store(
    session: AsyncSession, *, inst: Instance, kind: str, filename: str, content_type: str, body: bytes, store: FileStore
) -> Attachment:
    digest = hashlib.sha256(body).hexdigest()
    key = f"{inst.ente_id}/{inst.id}/{digest}"
    store.write(key, body)
    safe_name = re.sub(r"[^\w.\- ]", "_", filename)[:200] or "allegato"
    att = Attachment(
        ente_id=inst.ente_id,
        instance_id=inst.id,
        kind=kind[:80],
        filename=safe_name,
        content_type=content_type,
        size=len(body),
        sha256=digest,
        storage_key=key,
    )
    session.add(att)
    await session.flush()
    return att


async def _event(
    session: AsyncSession, inst: Instance, actor: Principal | None, frm: str | None, to: str, note: str = ""
) -> InstanceEvent:
    ev = InstanceEvent(
        ente_id=inst.ente_id,
        instance_id=inst.id,
        actor_kind=actor.actor_kind if actor else "system",
        actor_name=actor.username if actor else "protocollo",
        from_status=frm,
        to_status=to,
        note=note,
    )
    session.add(ev)
    await session.flush()
    return ev


async def _notify(session: AsyncSession, inst: Instance, t: InstanceType, ev: InstanceEvent) -> None:
    template = NOTIFY.get(ev.to_status)
    if template is None:
        return
    text = (
        f"Comune: la sua istanza «{t.title}» (codice {inst.code}) "
        + template.format(protocol=inst.protocol_number or "", note=(ev.note or "").strip())
    ).strip()
    await notifications.enqueue(
        session,
        ente_id=inst.ente_id,
        contact_id=inst.contact_id,
        kind=f"instance.{ev.to_status}",
        text=text,
        subject=f"Istanza {inst.code}",
        dedupe_key=f"instance:{inst.id}:event:{ev.id}",
    )


async def _protocolled(session: AsyncSession, inst: Instance, t: InstanceType, number: str) -> None:
    now = utcnow()
    inst.protocol_number, inst.protocolled_at, inst.status = number, now, "protocolled"
    inst.deadline_at = now + timedelta(days=t.deadline_days)
    ev = await _event(session, inst, None, "submitted", "protocolled", f"protocollo n. {number}")
    await _notify(session, inst, t, ev)


async def submit(
    session: AsyncSession,
    *,
    principal: Principal,
    data: InstanceIn,
    adapter: ProtocolAdapter,
    store: FileStore | None = None,
) -> Instance:
    """Validate the form and the attachments together (one 422 naming every problem, including each missing required
    kind as ``attachments.<kind>``), then write the istanza, its attachments and, with the local register, its
    protocol number in the caller's transaction. Attached files are written before the protocol registration."""
    ente_id = principal.ente_id
    t = await get_type(session, ente_id=ente_id, slug=data.type)
    contact_id = data.on_behalf_of or data.contact_id
    try:
        contact = await contacts.get(session, ente_id=ente_id, contact_id=contact_id)
    except NotFound:
        raise ValidationFailed("unknown contact", fields={"contact_id": "unknown contact"}) from None
    if data.on_behalf_of is not None and principal.is_service:
        raise ValidationFailed("only operators submit on behalf", fields={"on_behalf_of": "operators only"})
    if t.verified_identity_required and not contact.verified_identity:
        raise ValidationFailed(
            "this request needs a verified identity (SPID/CIE)", fields={"contact_id": "verified identity required"}
        )
    if data.attachments and store is None:
        raise ValueError("attachments given without a file store")
    fields = await _data_errors(session, t, data.data)
    fields.update(_attachment_errors(t, data.attachments, store.max_bytes if store else 0))
    if fields:
        raise ValidationFailed("form invalid: " + ", ".join(sorted(fields)), fields=fields)
    inst = Instance(
        ente_id=ente_id,
        code=new_code(),
        type_id=t.id,
        contact_id=contact_id,
        data=data.data,
        status="submitted",
        created_by_kind="citizen" if principal.is_citizen else "bot" if principal.is_service else "operator",
        created_by_operator_id=principal.operator_id,
        on_behalf=data.on_behalf_of is not None,
        channel=data.channel,
    )
    session.add(inst)
    await session.flush()
    note = f"presentata per conto del cittadino da {principal.username}" if inst.on_behalf else ""
    await _event(session, inst, principal, None, "submitted", note)
    for f in data.attachments:
        assert store is not None
        await _store(
            session, inst=inst, kind=f.kind, filename=f.filename, content_type=f.content_type, body=f.body, store=store
        )
    if adapter.immediate:
        await _protocolled(session, inst, t, await adapter.register(session, inst, utcnow().year))
    else:
        session.add(ProtocolOutbox(ente_id=ente_id, instance_id=inst.id))
        await session.flush()
    return inst


async def process_protocol_outbox(
    maker: async_sessionmaker[AsyncSession], adapter: ProtocolAdapter, limit: int = 20
) -> int:
    """Register pending istanze with the external system; on failure retry later with backoff. Each row is
    processed in its own transaction with the row locked, so replicas never register one istanza twice."""
    done = 0
    now = utcnow()
    async with reading(maker) as s:
        ids = (
            await s.scalars(
                select(ProtocolOutbox.id)
                .where(ProtocolOutbox.status == "pending", ProtocolOutbox.next_attempt_at <= now)
                .order_by(ProtocolOutbox.next_attempt_at)
                .limit(limit)
            )
        ).all()
    for oid in ids:
        async with transaction(maker) as s:
            stmt = select(ProtocolOutbox).where(ProtocolOutbox.id == oid, ProtocolOutbox.status == "pending")
            if s.bind.dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            row = await s.scalar(stmt)
            if row is None:
                continue
            inst = await s.get(Instance, row.instance_id)
            assert inst is not None
            row.attempts += 1
            if inst.status != "submitted":  # withdrawn meanwhile, or already registered
                row.status = "done"
                continue
            try:
                number = await adapter.register(s, inst, (inst.created_at or utcnow()).year)
            except ProtocolUnavailable as exc:
                row.last_error = str(exc)[:300]
                row.next_attempt_at = utcnow() + timedelta(seconds=min(30 * 2 ** (row.attempts - 1), 3600))
                continue
            t = await s.get(InstanceType, inst.type_id)
            assert t is not None
            await _protocolled(s, inst, t, number)
            row.status, row.last_error = "done", None
            done += 1
    return done


async def get(session: AsyncSession, *, ente_id: int, instance_id: int, lock: bool = False) -> Instance:
    return await get_in_ente(session, Instance, ente_id=ente_id, record_id=instance_id, what="istanza", lock=lock)


async def transition(session: AsyncSession, *, principal: Principal, instance_id: int, to: str, note: str) -> Instance:
    inst = await get(session, ente_id=principal.ente_id, instance_id=instance_id, lock=True)
    if to not in TRANSITIONS.get(inst.status, set()) or to == "protocolled":
        raise Conflict(f"cannot go from {inst.status!r} to {to!r}", code="illegal_transition")
    if to in ("rejected", "integration_requested") and not note.strip():
        raise ValidationFailed("a note for the citizen is required", fields={"note": "required"})
    now = utcnow()
    previous, inst.status = inst.status, to
    if to == "integration_requested":
        inst.paused_at = now  # the statutory clock stops while the citizen integrates
    elif previous == "integration_requested" and inst.paused_at is not None:
        if inst.deadline_at is not None:
            inst.deadline_at += now - inst.paused_at
        inst.paused_at = None
    if to in FINAL:
        inst.decided_at = now
    ev = await _event(session, inst, principal, previous, to, note)
    t = await session.get(InstanceType, inst.type_id)
    assert t is not None
    await _notify(session, inst, t, ev)
    return inst


def list_stmt(*, ente_id: int, contact_id: int | None, status: str | None, type_id: int | None) -> Select[Any]:
    stmt = select(Instance).where(Instance.ente_id == ente_id)
    if contact_id is not None:
        stmt = stmt.where(Instance.contact_id == contact_id)
    if status:
        stmt = stmt.where(Instance.status.in_(status.split(",")))
    if type_id is not None:
        stmt = stmt.where(Instance.type_id == type_id)
    return stmt


async def events(session: AsyncSession, inst: Instance) -> Sequence[InstanceEvent]:
    return (
        await session.scalars(
            select(InstanceEvent).where(InstanceEvent.instance_id == inst.id).order_by(InstanceEvent.id)
        )
    ).all()


async def lookup(session: AsyncSession, *, ente_id: int, code: str, factor: str) -> Instance:
    """Same 404 whether the code is unknown or the factor wrong: nothing tells a guesser which one failed."""
    inst = await session.scalar(select(Instance).where(Instance.ente_id == ente_id, Instance.code == code.upper()))
    contact = await session.get(Contact, inst.contact_id) if inst else None
    if (
        inst is None
        or contact is None
        or not citizen_lookup.factor_matches(
            factor, fiscal_codes=[contact.fiscal_code], phones=[p.e164 for p in contact.phones]
        )
    ):
        raise NotFound("no istanza matches this code and second factor")
    return inst


async def add_attachment(
    session: AsyncSession,
    *,
    ente_id: int,
    instance_id: int,
    kind: str,
    filename: str,
    content_type: str,
    body: bytes,
    store: FileStore,
) -> Attachment:
    """A later addition (e.g. the citizen's integration) to an open istanza, under the same rules as submission."""
    inst = await get(session, ente_id=ente_id, instance_id=instance_id)
    if inst.status in FINAL:
        raise Conflict("the istanza is closed")
    problem = file_problem(content_type, body, store.max_bytes)
    if problem is not None:
        message = {
            "empty": "empty file",
            "too large": f"file larger than {store.max_bytes} bytes",
            "type not allowed": "only PDF, JPEG, PNG or WebP files",
        }[problem[1]]
        raise ValidationFailed(message, fields={"file": problem[1]})
    return await _store(
        session, inst=inst, kind=kind, filename=filename, content_type=content_type, body=body, store=store
    )

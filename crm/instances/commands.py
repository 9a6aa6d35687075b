"""Every change to istanze and their configuration, one function each: permission, service call, audit line, live
event (the back office's queue refreshes on it). The istanza's own history (status events) is the service's."""

from __future__ import annotations

from crm.core import lookup as citizen_lookup
from crm.core.commands import Context, command
from crm.core.errors import ValidationFailed
from crm.instances import policies
from crm.instances import service as svc
from crm.instances.models import Attachment, Instance, InstanceType, ReferenceItem
from crm.instances.protocol import ProtocolAdapter
from crm.instances.schemas import InstanceIn, InstanceTypeIn, InstanceTypePatch, ReferenceItemIn, ReferenceItemPatch


def _event(inst: Instance) -> dict[str, object]:
    return {"type": "instance", "status": inst.status}


# --- istanze -------------------------------------------------------------------------------------------------------
@command(policies.SUBMIT)
async def submit(
    cx: Context, *, data: InstanceIn, adapter: ProtocolAdapter, store: svc.FileStore | None = None
) -> Instance:
    """File an istanza (with its attachments; protocolled at once by the local register). The caller discards the
    stored files if the transaction rolls back."""
    cx.allow(policies.SUBMIT, owner=data.contact_id)
    inst = await svc.submit(cx.session, principal=cx.principal, data=data, adapter=adapter, store=store)
    await cx.record(
        "create",
        "instance",
        inst.id,
        details={
            "contact_id": inst.contact_id,
            "on_behalf": inst.on_behalf,
            "type": data.type,
            "channel": data.channel,
        },
        event=_event(inst),
    )
    return inst


@command(policies.WITHDRAW)
async def transition(cx: Context, *, instance_id: int, to: str, note: str = "") -> Instance:
    """The office's decisions (take in charge, integration, accept, reject); withdrawal also by whoever filed for
    the citizen and by the citizen. The citizen is notified by the service."""
    current = await svc.get(cx.session, ente_id=cx.ente_id, instance_id=instance_id)
    cx.allow(policies.WITHDRAW if to == "withdrawn" else policies.HANDLE, owner=current.contact_id)
    inst = await svc.transition(cx.session, principal=cx.principal, instance_id=instance_id, to=to, note=note)
    await cx.record("transition", "instance", inst.id, details={"to": to}, event=_event(inst))
    return inst


@command(policies.ATTACH)
async def add_attachment(
    cx: Context, *, instance_id: int, kind: str, filename: str, content_type: str, body: bytes, store: svc.FileStore
) -> Attachment:
    current = await svc.get(cx.session, ente_id=cx.ente_id, instance_id=instance_id)
    cx.allow(policies.ATTACH, owner=current.contact_id)
    att = await svc.add_attachment(
        cx.session,
        ente_id=cx.ente_id,
        instance_id=instance_id,
        kind=kind,
        filename=filename,
        content_type=content_type,
        body=body,
        store=store,
    )
    await cx.record(
        "attach", "instance", instance_id, details={"attachment_id": att.id, "kind": att.kind}, event=_event(current)
    )
    return att


@command(policies.INTEGRATE)
async def integrate(
    cx: Context, *, instance_id: int, note: str, files: list[tuple[str, str, bytes]], store: svc.FileStore
) -> Instance:
    """Answer the office's integration request: the files (``(filename, content_type, body)``) are added, the
    istanza moves to ``integrated`` (the statutory clock starts again) and the office's queue is told. One change,
    one audit line. The caller discards the stored files if the transaction rolls back."""
    current = await svc.get(cx.session, ente_id=cx.ente_id, instance_id=instance_id)
    cx.allow(policies.INTEGRATE, owner=current.contact_id)
    if current.status != "integration_requested":
        raise ValidationFailed("l'istanza non attende integrazioni", fields={"note": "nessuna integrazione richiesta"})
    if not note.strip() and not files:
        raise ValidationFailed("scriva una risposta o alleghi un documento", fields={"note": "obbligatorio"})
    for filename, content_type, body in files:
        await svc.add_attachment(
            cx.session,
            ente_id=cx.ente_id,
            instance_id=instance_id,
            kind="integrazione",
            filename=filename,
            content_type=content_type,
            body=body,
            store=store,
        )
    inst = await svc.transition(
        cx.session,
        principal=cx.principal,
        instance_id=instance_id,
        to="integrated",
        note=note.strip() or "documenti allegati",
    )
    await cx.record("integrate", "instance", inst.id, details={"files": len(files)}, event=_event(inst))
    return inst


# --- instance types and reference lists (admins) ---------------------------------------------------------------------
@command(policies.MANAGE)
async def create_type(cx: Context, *, data: InstanceTypeIn) -> InstanceType:
    t = await svc.create_type(cx.session, ente_id=cx.ente_id, data=data)
    await cx.record("create", "instance_type", t.id, details={"slug": t.slug})
    return t


@command(policies.MANAGE)
async def update_type(cx: Context, *, slug: str, data: InstanceTypePatch) -> tuple[InstanceType, list[str]]:
    t, changed = await svc.update_type(cx.session, ente_id=cx.ente_id, slug=slug, data=data)
    if changed:
        await cx.record("update", "instance_type", t.id, details={"slug": t.slug, "fields": changed})
    return t, changed


@command(policies.MANAGE)
async def deactivate_type(cx: Context, *, slug: str) -> InstanceType:
    t, was_active = await svc.deactivate_type(cx.session, ente_id=cx.ente_id, slug=slug)
    if was_active:
        await cx.record("deactivate", "instance_type", t.id, details={"slug": t.slug})
    return t


@command(policies.MANAGE)
async def add_reference(cx: Context, *, list_slug: str, data: ReferenceItemIn) -> ReferenceItem:
    item = await svc.add_reference(cx.session, ente_id=cx.ente_id, list_slug=list_slug, data=data)
    await cx.record("create", "reference_item", item.id, details={"list": list_slug, "value": item.value})
    return item


@command(policies.MANAGE)
async def update_reference(
    cx: Context, *, list_slug: str, value: str, data: ReferenceItemPatch
) -> tuple[ReferenceItem, list[str]]:
    item, changed = await svc.update_reference(
        cx.session, ente_id=cx.ente_id, list_slug=list_slug, value=value, data=data
    )
    if changed:
        await cx.record(
            "update", "reference_item", item.id, details={"list": list_slug, "value": item.value, "fields": changed}
        )
    return item, changed


@command(policies.MANAGE)
async def deactivate_reference(cx: Context, *, list_slug: str, value: str) -> ReferenceItem:
    item, was_active = await svc.deactivate_reference(cx.session, ente_id=cx.ente_id, list_slug=list_slug, value=value)
    if was_active:
        await cx.record("deactivate", "reference_item", item.id, details={"list": list_slug, "value": item.value})
    return item


# --- audited reads ---------------------------------------------------------------------------------------------------
@command(policies.VIEW)
async def read(cx: Context, *, instance_id: int) -> Instance:
    inst = await svc.get(cx.session, ente_id=cx.ente_id, instance_id=instance_id)
    cx.allow(policies.VIEW, owner=inst.contact_id)
    await cx.read("read", "instance", inst.id)
    return inst


@command(policies.LOOKUP)
async def lookup(cx: Context, *, code: str, second_factor: str, caller: str | None = None) -> Instance | None:
    """A citizen's istanza by code plus a second factor, throttled per code and per caller; a miss is counted (the
    caller answers 404 after commit) and gives None; a hit is in the audit log."""
    limits = citizen_lookup.limits("instances", cx.ente_id, code, caller)
    inst = await citizen_lookup.throttled(
        cx.session, limits, lambda: svc.lookup(cx.session, ente_id=cx.ente_id, code=code, factor=second_factor)
    )
    if inst is not None:
        await cx.read("lookup", "instance", inst.id)
    return inst

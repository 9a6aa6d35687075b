"""Istanze online (criteria C.SE.1.2-1.10): the steps are shown and Back is always allowed, every step is saved as
a draft the citizen can resume later (from any device), one summary screen comes before sending, and the receipt is
in the area personale (plus a message on the citizen's channel when the istanza is protocolled). Istanze need a
verified identity: the citizen signs in with SPID or CIE first."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from sanic import Request
from sanic.response import HTTPResponse, redirect

from crm.core.errors import NotFound, ValidationFailed
from crm.db import read_session
from crm.instances import service as instances
from crm.instances.models import InstanceType
from crm.sportello import commands, service
from crm.sportello.kit import bp, render
from crm.sportello.pages import ente_id_of
from crm.sportello.reports import files_of, store_of
from crm.sportello.session import Citizen, acting_as, citizen_page

STEPS = ["Informativa e richiedente", "Dati della richiesta", "Allegati", "Riepilogo"]


@bp.get("/istanze")
@citizen_page()
async def catalogue(request: Request, citizen: Citizen | None) -> HTTPResponse:
    ente_id = await ente_id_of(request)
    async with read_session(request) as s:
        types = await instances.list_types(s, ente_id=ente_id)
        drafts = await service.drafts_of(s, ente_id=ente_id, contact_id=citizen.contact.id) if citizen else []
    return render(
        request,
        "instances.html",
        types=types,
        drafts={d.type_slug: d for d in drafts},
        rating_service="online-instance",
    )


async def _type(request: Request, ente_id: int, slug: str) -> InstanceType:
    async with read_session(request) as s:
        try:
            return await instances.get_type(s, ente_id=ente_id, slug=slug)
        except ValidationFailed:
            raise NotFound("tipo di istanza non trovato") from None


def fields_of(t: InstanceType, options: dict[str, list[tuple[str, str]]]) -> list[dict[str, Any]]:
    """The form's fields from the type's JSON Schema, in order, with what the template needs to draw them."""
    schema = t.form_schema or {}
    required = set(schema.get("required", []))
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        kind = "text"
        if prop.get("x-reference") or prop.get("enum"):
            kind = "select"
        elif prop.get("format") == "date":
            kind = "date"
        elif prop.get("type") in ("number", "integer"):
            kind = "number"
        elif prop.get("type") == "boolean":
            kind = "checkbox"
        elif int(prop.get("maxLength", 0) or 0) > 300 or name in ("description", "reason", "documents"):
            kind = "textarea"
        choices = options.get(name) or [(str(v), str(v)) for v in prop.get("enum", [])]
        label = prop.get("title") or name.replace("_", " ").capitalize()
        out.append(
            {
                "name": name,
                "label": label,
                "kind": kind,
                "required": name in required,
                "choices": choices,
                "max": prop.get("maxLength"),
                "type": prop.get("type"),
            }
        )
    return out


async def _options(request: Request, t: InstanceType) -> dict[str, list[tuple[str, str]]]:
    out = {}
    async with read_session(request) as s:
        for name, prop in ((t.form_schema or {}).get("properties") or {}).items():
            if isinstance(prop, dict) and prop.get("x-reference"):
                items = await instances.reference_items(s, ente_id=t.ente_id, list_slug=prop["x-reference"])
                out[name] = [(i.value, i.label) for i in items]
    return out


def _coerce(fields: list[dict[str, Any]], form: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in fields:
        raw = str(form.get(f["name"]) or "").strip()
        if f["kind"] == "checkbox":
            data[f["name"]] = bool(form.get(f["name"]))
        elif raw == "":
            continue
        elif f["type"] in ("number", "integer"):
            try:
                data[f["name"]] = int(raw) if f["type"] == "integer" else float(raw.replace(",", "."))
            except ValueError:
                data[f["name"]] = raw  # the schema check names it
        else:
            data[f["name"]] = raw[:5000]
    return data


async def _errors(request: Request, t: InstanceType, data: dict[str, Any]) -> dict[str, str]:
    async with read_session(request) as s:
        raw = await instances._data_errors(s, t, data)  # noqa: SLF001 - the same check submission runs
    return {
        k.removeprefix("data."): ("Campo obbligatorio." if v == "required" else "Valore non valido.")
        for k, v in raw.items()
    }


async def _draft(request: Request, citizen: Citizen, t: InstanceType) -> dict[str, Any]:
    async with read_session(request) as s:
        d = await service.get_draft(s, ente_id=t.ente_id, contact_id=citizen.contact.id, type_slug=t.slug)
    return dict(d.data) if d else {}


async def _save(request: Request, citizen: Citizen, t: InstanceType, step: int, data: dict[str, Any]) -> None:
    async with acting_as(request, citizen, t.ente_id) as cx:
        await commands.save_draft(cx, type_slug=t.slug, step=step, data=data)


@bp.get("/istanze/<slug:str>")
@citizen_page(signed_in=True)
async def resume(request: Request, citizen: Citizen, slug: str) -> HTTPResponse:
    ente_id = await ente_id_of(request)
    t = await _type(request, ente_id, slug)
    async with read_session(request) as s:
        d = await service.get_draft(s, ente_id=ente_id, contact_id=citizen.contact.id, type_slug=t.slug)
    return redirect(f"/sportello/istanze/{t.slug}/passo/{d.step if d else 1}", status=303)


@bp.route("/istanze/<slug:str>/passo/<step:int>", methods=["GET", "POST"])
@citizen_page(signed_in=True)
async def step(request: Request, citizen: Citizen, slug: str, step: int) -> HTTPResponse:
    ente_id = await ente_id_of(request)
    t = await _type(request, ente_id, slug)
    if not 1 <= step <= len(STEPS):
        raise NotFound("passo non trovato")
    draft = await _draft(request, citizen, t)
    fields = fields_of(t, await _options(request, t))
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = request.form or {}
        action = str(form.get("azione") or "avanti")
        update: dict[str, Any] = {}
        if step == 1:
            update["privacy"] = bool(form.get("privacy"))
            if action == "avanti" and not update["privacy"]:
                errors["privacy"] = "Per proseguire occorre prendere visione dell'informativa privacy."
        elif step == 2:
            update["data"] = _coerce(fields, form)
            if action == "avanti":
                errors = await _errors(request, t, update["data"])
        elif step == 3:
            update["files"] = await _upload(request, citizen, t, draft, form)
            missing = [k for k in t.required_attachments or [] if k not in {f["kind"] for f in update["files"]}]
            if action == "avanti" and missing:
                errors["files"] = "Manca l'allegato obbligatorio: " + ", ".join(missing)
        if errors:
            draft.update(update)
            return _page(request, t, step, draft, fields, citizen, errors, status=422)
        nxt = step - 1 if action == "indietro" else step if action in ("salva", "allega") else step + 1
        nxt = max(1, min(nxt, len(STEPS)))
        await _save(request, citizen, t, nxt, update)
        suffix = {"salva": "?salvata=1", "allega": "?allegato=1"}.get(action, "")
        return redirect(f"/sportello/istanze/{t.slug}/passo/{nxt}{suffix}", status=303)
    return _page(request, t, step, draft, fields, citizen, errors)


def _page(
    request: Request,
    t: InstanceType,
    step: int,
    draft: dict[str, Any],
    fields: list[dict[str, Any]],
    citizen: Citizen,
    errors: dict[str, str],
    status: int = 200,
) -> HTTPResponse:
    return render(
        request,
        "instance_step.html",
        t=t,
        steps=STEPS,
        step=step,
        draft=draft,
        fields=fields,
        person=citizen.contact,
        errors=errors,
        saved=request.args.get("salvata") == "1",
        attached=request.args.get("allegato") == "1",
        rating_service="online-instance",
        status=status,
    )


async def _upload(
    request: Request, citizen: Citizen, t: InstanceType, draft: dict[str, Any], form: Any
) -> list[dict[str, Any]]:
    """Files of a draft live in the attachments store until the istanza is sent (content-addressed)."""
    kept = [
        f
        for f in draft.get("files", [])
        if str(f.get("key")) not in (form.getlist("rimuovi", []) if hasattr(form, "getlist") else [])
    ]
    store = store_of(request)
    for name, ctype, body in files_of(request, "file"):
        problem = instances.file_problem(ctype, body, store.max_bytes)
        if problem is not None:
            raise ValidationFailed(
                {
                    "empty": "Il file è vuoto.",
                    "too large": "Il file è troppo grande.",
                    "type not allowed": "Sono ammessi solo file PDF, JPEG, PNG o WebP.",
                }[problem[1]],
                fields={"file": problem[1]},
            )
        digest = hashlib.sha256(body).hexdigest()
        key = f"drafts/{t.ente_id}/{citizen.contact.id}/{digest}"
        store.write(key, body)
        kind = str(form.get("kind") or "documento")
        if kind not in (t.required_attachments or []) and kind != "documento":
            kind = "documento"
        kept.append({"key": key, "filename": name[:200], "content_type": ctype, "size": len(body), "kind": kind})
    return kept[:10]


@bp.post("/istanze/<slug:str>/invia")
@citizen_page(signed_in=True)
async def send(request: Request, citizen: Citizen, slug: str) -> HTTPResponse:
    ente_id = await ente_id_of(request)
    t = await _type(request, ente_id, slug)
    draft = await _draft(request, citizen, t)
    if not draft.get("privacy"):
        return redirect(f"/sportello/istanze/{t.slug}/passo/1", status=303)
    root = store_of(request).root
    attachments = [
        {
            "kind": f["kind"],
            "filename": f["filename"],
            "content_type": f["content_type"],
            "content_base64": base64.b64encode((Path(root) / f["key"]).read_bytes()).decode(),
        }
        for f in draft.get("files", [])
        if (Path(root) / f["key"]).is_file()
    ]
    store = store_of(request)
    try:
        async with acting_as(request, citizen, ente_id) as cx:
            inst = await commands.send_instance(
                cx,
                type_slug=t.slug,
                data=draft.get("data", {}),
                attachments=attachments,
                adapter=request.app.ctx.protocol,
                store=store,
            )
            inst_id = inst.id
    except ValidationFailed as exc:
        store.discard()
        fields = fields_of(t, await _options(request, t))
        errors = {
            k.removeprefix("data.").removeprefix("attachments."): "Campo obbligatorio o non valido." for k in exc.fields
        }
        return _page(
            request, t, 4, draft, fields, citizen, errors or {"form": "Controlli i dati inseriti."}, status=422
        )
    return redirect(f"/sportello/area-personale/istanze/{inst_id}?inviata=1", status=303)

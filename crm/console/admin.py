"""Administration (admins only): operators (create, role and competence topics, deactivate, reset the password,
with the API's rules) and the settings page (channel status from the /health probes, office hours, offices and
topics). Every change is audited."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

from pydantic import ValidationError
from sanic import Request
from sanic.response import HTTPResponse, redirect

from crm.console.forms import field_message, service_error
from crm.console.kit import ADMINS, bp, render
from crm.console.session import console_page, context
from crm.core import throttle
from crm.core.auth import Principal
from crm.core.commands import begin
from crm.core.errors import ApiError, Conflict
from crm.core.workhours import DAYS, parse_office_hours, parse_patron_day
from crm.db import db_session, utcnow
from crm.entes import commands as ente_commands
from crm.entes import service as entes
from crm.offices import service as offices
from crm.operators import commands as operator_commands
from crm.operators import service as operators
from crm.operators.schemas import OperatorIn, OperatorPatch

WEEKDAY_LABEL = ["Lunedì", "Martedì", "Mercoledì", "Giovedì", "Venerdì", "Sabato", "Domenica"]
OUTCOME = {
    "creato": "Operatore creato: può accedere con il nome utente e la password indicati.",
    "salvato": "Modifiche salvate.",
    "disattivato": "Operatore disattivato: non può più accedere.",
    "riattivato": "Operatore riattivato: può di nuovo accedere.",
}
COMPONENTS = [  # /health component -> label, shown in this order
    ("web_chat", "Chat sul sito (web)"),
    ("sms", "SMS (Twilio)"),
    ("telegram", "Telegram"),
    ("email", "E-mail (notifiche)"),
    ("rasa", "Assistente virtuale (Rasa)"),
    ("action_server", "Azioni dell'assistente (prenotazioni, pratiche, ricerca)"),
    ("database", "Database"),
    ("knowledge_base", "Ricerca nelle schede informative"),
    ("protocol", "Protocollo"),
    ("scheduler", "Attività pianificate"),
]
CHANNELS = {"web_chat", "sms", "telegram", "email", "rasa"}
STATE_LABEL = {
    "ok": "Attivo",
    "off": "Non configurato",
    "error": "In errore",
    "unreachable": "Non raggiungibile",
    "starting": "In avvio",
}


def _errors(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "form"
        msg = str(err.get("msg", ""))
        if name == "password":
            text = (
                "La password deve avere almeno 10 caratteri."
                if "at least" in msg
                else "La password può avere al massimo 200 caratteri."
            )
        elif name == "username":
            text = "Da 3 a 64 caratteri: lettere senza accenti, numeri, punto, trattino o trattino basso."
        elif name == "role":
            text = "Scelga un ruolo dall'elenco."
        else:
            text = field_message(msg)
        out.setdefault(name, text)
    return out


def _topics(form: Any) -> list[str]:
    getlist = getattr(form, "getlist", None)
    return [t for t in (getlist("topics") or []) if t] if getlist else []


async def _topic_options(s: Any, ente_id: int) -> list[tuple[str, str]]:
    return [(t.slug, t.name) for t in await offices.list_topics(s, ente_id=ente_id)]


# --- operators --------------------------------------------------------------------------------------------------------
@bp.get("/operators")
@console_page(*ADMINS)
async def operators_list(request: Request, p: Principal) -> HTTPResponse:
    async with db_session(request) as s:
        rows = list(await operators.list_(s, ente_id=p.ente_id))
        topics = dict(await _topic_options(s, p.ente_id))
        tz = await _tz(s, p.ente_id)
        locked = {op.id: await _locked_until(request, s, op.username) for op in rows}
    now = utcnow()
    return render(
        "operators.html",
        **context(
            request,
            p,
            rows=rows,
            topics=topics,
            tz=tz,
            now=now,
            locked=locked,
            ok=OUTCOME.get(request.args.get("esito", ""), ""),
        ),
    )


@bp.get("/operators/new")
@console_page(*ADMINS)
async def operator_new_form(request: Request, p: Principal) -> HTTPResponse:
    async with db_session(request) as s:
        topic_options = await _topic_options(s, p.ente_id)
    return render(
        "operator_new.html",
        **context(
            request, p, topic_options=topic_options, errors={}, error=None, new={"role": "operator", "topics": []}
        ),
    )


@bp.post("/operators/new")
@console_page(*ADMINS)
async def operator_create(request: Request, p: Principal) -> HTTPResponse:
    form = request.form or {}
    new = {k: (form.get(k) or "").strip() for k in ("username", "full_name", "email", "role")}
    new["topics"] = _topics(form)
    password, confirm = form.get("password") or "", form.get("password2") or ""
    errors: dict[str, str] = {}
    error, status = None, 422
    data = None
    try:
        data = OperatorIn(
            username=new["username"],
            full_name=new["full_name"],
            email=new["email"] or None,
            role=new["role"],
            topics=new["topics"],
            password=password,
        )  # type: ignore[arg-type]
    except ValidationError as exc:
        errors = _errors(exc)
    if password != confirm and "password" not in errors:
        errors["password2"] = "Le due password non coincidono."
    if data is not None and not errors:
        try:
            async with begin(request, screen="operators") as cx:
                await operator_commands.create(cx, data=data)
        except Conflict as exc:
            if "username" not in exc.fields:
                raise
            errors["username"] = "Questo nome utente è già usato: ne scelga un altro."
            status = 409
        except ApiError as exc:
            if "topics" not in exc.fields:
                raise
            errors["topics"] = "Ambito sconosciuto."
        else:
            return redirect("/console/operators?esito=creato", status=303)
    async with db_session(request) as s:
        topic_options = await _topic_options(s, p.ente_id)
    return render(
        "operator_new.html",
        status=status,
        **context(
            request,
            p,
            topic_options=topic_options,
            errors=errors,
            new=new,
            error=error or "L'operatore non è stato creato: corregga i campi indicati.",
        ),
    )


_tz = entes.timezone


async def _locked_until(request: Request, s: Any, username: str) -> Any:
    """Until when sign-ins to this account from unknown devices wait (failed attempts), or None."""
    return await throttle.account_waits_until(
        s, realm=operators.REALM, account=username, policy=operators.policy(request.app.ctx.settings)
    )


async def _operator_page(
    request: Request,
    p: Any,
    operator_id: int,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    ok: str = "",
    values: dict[str, Any] | None = None,
    new_password: str = "",
) -> HTTPResponse:
    async with db_session(request) as s:
        op = await operators.get(s, ente_id=p.ente_id, operator_id=operator_id)
        topic_options = await _topic_options(s, p.ente_id)
        tz = await _tz(s, p.ente_id)
        locked = await _locked_until(request, s, op.username)
    values = values or {
        "full_name": op.full_name,
        "email": op.email or "",
        "role": op.role,
        "topics": sorted(t.slug for t in op.topics),
    }
    resp = render(
        "operator_edit.html",
        status=status,
        **context(
            request,
            p,
            op=op,
            topic_options=topic_options,
            values=values,
            errors=errors or {},
            error=error,
            ok=ok,
            new_password=new_password,
            tz=tz,
            now=utcnow(),
            myself=op.id == p.operator_id,
            locked=locked,
        ),
    )
    if new_password:
        resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/operators/<operator_id:int>")
@console_page(*ADMINS)
async def operator_page(request: Request, p: Principal, operator_id: int) -> HTTPResponse:
    return await _operator_page(request, p, operator_id, ok=OUTCOME.get(request.args.get("esito", ""), ""))


@bp.post("/operators/<operator_id:int>")
@console_page(*ADMINS)
async def operator_update(request: Request, p: Principal, operator_id: int) -> HTTPResponse:
    form = request.form or {}
    values: dict[str, Any] = {k: (form.get(k) or "").strip() for k in ("full_name", "email", "role")}
    values["topics"] = _topics(form)
    errors: dict[str, str] = {}
    data = None
    try:
        data = OperatorPatch(
            full_name=values["full_name"], email=values["email"] or None, role=values["role"], topics=values["topics"]
        )  # type: ignore[arg-type]
    except ValidationError as exc:
        errors = _errors(exc)
    if operator_id == p.operator_id and values["role"] != "admin":
        errors["role"] = "Non può togliere a sé stesso il ruolo di amministratore: lo chieda a un altro amministratore."
    if data is not None and not errors:
        try:
            async with begin(request, screen="operators") as cx:
                await operator_commands.update(cx, operator_id=operator_id, data=data)
        except ApiError as exc:
            if exc.status == 404:
                raise
            if "topics" in exc.fields:
                errors["topics"] = "Ambito sconosciuto."
            else:
                return await _operator_page(
                    request, p, operator_id, status=exc.status, values=values, error=service_error(exc)
                )
        else:
            return redirect(f"/console/operators/{operator_id}?esito=salvato", status=303)
    return await _operator_page(
        request,
        p,
        operator_id,
        status=422,
        errors=errors,
        values=values,
        error="Le modifiche non sono state salvate: corregga i campi indicati.",
    )


@bp.post("/operators/<operator_id:int>/active")
@console_page(*ADMINS)
async def operator_active(request: Request, p: Principal, operator_id: int) -> HTTPResponse:
    form = request.form or {}
    active = form.get("active") == "1"
    if operator_id == p.operator_id and not active:
        return await _operator_page(
            request, p, operator_id, status=409, error="Non può disattivare il proprio account."
        )
    async with begin(request, screen="operators") as cx:
        await operator_commands.set_active(cx, operator_id=operator_id, active=active)
    return redirect(f"/console/operators/{operator_id}?esito={'riattivato' if active else 'disattivato'}", status=303)


@bp.post("/operators/<operator_id:int>/password")
@console_page(*ADMINS)
async def operator_password(request: Request, p: Principal, operator_id: int) -> HTTPResponse:
    form = request.form or {}
    generate = form.get("genera") == "1"
    password = secrets.token_urlsafe(12) if generate else form.get("password") or ""
    errors: dict[str, str] = {}
    try:
        OperatorPatch(password=password)  # the API's rules
    except ValidationError as exc:
        errors = {"new_password": _errors(exc).get("password", "Password non valida.")}
    if not generate and not errors and password != (form.get("password2") or ""):
        errors["new_password2"] = "Le due password non coincidono."
    if errors:
        return await _operator_page(
            request,
            p,
            operator_id,
            status=422,
            errors=errors,
            error="La password non è stata cambiata: corregga i campi indicati.",
        )
    async with begin(request, screen="operators") as cx:
        await operator_commands.reset_password(cx, operator_id=operator_id, password=password, generated=generate)
    return await _operator_page(
        request,
        p,
        operator_id,
        new_password=password if generate else "",
        ok="Password cambiata."
        + (" La comunichi all'operatore in modo riservato: non verrà più mostrata." if generate else ""),
    )


# --- settings ---------------------------------------------------------------------------------------------------------
async def _probe(app: Any, name: str) -> dict[str, Any]:
    if name == "scheduler":
        return {"status": "ok" if app.ctx.settings.scheduler else "off"}
    if name == "database":
        return {"status": "ok", "backend": app.ctx.engine.dialect.name}  # this page was just read from it
    probe = app.ctx.health.get(name)
    if probe is None:
        return {"status": "off"}
    try:
        return dict(await probe(app))
    except Exception as exc:  # noqa: BLE001 - reported on the page, as /health does
        return {"status": "error", "error": type(exc).__name__}


@bp.get("/settings")
@console_page(*ADMINS)
async def settings_page(request: Request, p: Principal) -> HTTPResponse:
    ok = {"orari": "Orari d'ufficio salvati.", "sla": "Tempi di prima risposta in chat salvati."}.get(
        request.args.get("esito") or "", ""
    )
    return await _settings(request, p, ok=ok)


async def _settings(
    request: Request,
    p: Principal,
    *,
    ok: str = "",
    err: str = "",
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    sla_form: dict[str, str] | None = None,
    sla_errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTTPResponse:
    async with db_session(request) as s:
        ente = await entes.get(s, p.ente_id)
        office_list = list(await offices.list_offices(s, ente_id=p.ente_id))
        topic_list = list(await offices.list_topics(s, ente_id=p.ente_id))
    states = await asyncio.gather(*(_probe(request.app, name) for name, _ in COMPONENTS))
    components = [
        {
            "name": name,
            "label": label,
            "channel": name in CHANNELS,
            "status": st.get("status", "error"),
            "label_status": STATE_LABEL.get(st.get("status", ""), st.get("status", "—")),
            "detail": {
                "web_chat": "widget e WebSocket del sito",
                "database": st.get("backend", ""),
                "knowledge_base": f"modello {st.get('embedder', '')}" if st.get("embedder") else "",
                "protocol": {"local": "registro interno", "http": "protocollo informatico esterno"}.get(
                    st.get("adapter", ""), ""
                ),
            }.get(name, ""),
        }
        for (name, label), st in zip(COMPONENTS, states, strict=True)
    ]
    try:
        hours = parse_office_hours(ente.office_hours)
    except ValueError:
        hours = {}
    week = [
        (WEEKDAY_LABEL[i], ", ".join(f"{a:%H:%M}–{b:%H:%M}" for a, b in hours.get(i, ())) or "chiuso")
        for i in range(len(DAYS))
    ]
    patron = None
    if ente.patron_day:
        month, _, day = ente.patron_day.partition("-")
        patron = f"{day}/{month}"
    by_office: dict[int, list[str]] = {}
    for t in topic_list:
        by_office.setdefault(t.office_id, []).append(t.name)
    if form is None:  # the form shows the current hours: two bands a day (morning and afternoon)
        form = {
            f"d{i}_{band}_{edge}": f"{span[k]:%H:%M}"
            for i in range(len(DAYS))
            for band, span in zip("ab", hours.get(i, ()), strict=False)
            for k, edge in enumerate(("from", "to"))
        }
        form["patron"] = patron or ""
    if sla_form is None:  # the chat first-response targets as saved (a topic left empty follows the ente's)
        sla_form = {"minutes": str(ente.chat_first_response_minutes)}
        sla_form.update({f"t{t.id}": str(t.chat_first_response_minutes or "") for t in topic_list})
    return render(
        "settings.html",
        status=status,
        **context(
            request,
            p,
            ente=ente,
            components=components,
            week=week,
            patron=patron,
            offices=office_list,
            by_office=by_office,
            ok=ok,
            err=err,
            form=form,
            errors=errors or {},
            days=list(enumerate(WEEKDAY_LABEL)),
            topics=topic_list,
            sla_form=sla_form,
            sla_errors=sla_errors or {},
        ),
    )


def _hours_from_form(form: Any) -> tuple[str, str | None, dict[str, str]]:
    """(office hours spec, patron day MM-DD, field -> Italian error) from the settings form."""
    errors: dict[str, str] = {}
    chunks = []
    for i, day in enumerate(DAYS):
        spans = []
        for band in "ab":
            a, b = ((form.get(f"d{i}_{band}_{edge}") or "").strip() for edge in ("from", "to"))
            if not a and not b:
                continue
            key = f"d{i}_{band}"
            if not (re.fullmatch(r"\d{2}:\d{2}", a) and re.fullmatch(r"\d{2}:\d{2}", b)):
                errors[key] = "Indichi sia l'apertura sia la chiusura (ore:minuti)."
            elif b <= a:
                errors[key] = "La chiusura deve seguire l'apertura."
            elif spans and a < spans[-1][1]:
                errors[key] = "Le due fasce dello stesso giorno si sovrappongono."
            else:
                spans.append((a, b))
        if spans:
            chunks.append(f"{day} " + ",".join(f"{a}-{b}" for a, b in spans))
    if not chunks and not errors:
        errors["d0_a"] = "Indichi almeno una fascia di apertura."
    patron, raw = None, (form.get("patron") or "").strip()
    if raw:
        m = re.fullmatch(r"(\d{1,2})/(\d{1,2})", raw)
        try:
            patron = f"{int(m.group(2)):02d}-{int(m.group(1)):02d}" if m else None
            parse_patron_day(patron or "bad")  # the same check the ente's calendar applies
        except ValueError:
            patron, errors["patron"] = None, "Scriva il giorno come GG/MM, per esempio 29/06."
    return "; ".join(chunks), patron, errors


@bp.post("/settings/hours")
@console_page(*ADMINS)
async def settings_hours(request: Request, p: Principal) -> HTTPResponse:
    form = request.form or {}
    spec, patron, errors = _hours_from_form(form)
    if errors:
        return await _settings(
            request,
            p,
            err="Gli orari non sono stati salvati: corregga i campi segnalati.",
            form={k: form.get(k) or "" for k in form},
            errors=errors,
            status=422,
        )
    async with begin(request, screen="settings") as cx:
        await ente_commands.set_office_hours(cx, office_hours=spec, patron_day=patron)
    return redirect("/console/settings?esito=orari#orari", status=303)


def _minutes(form: Any, key: str, errors: dict[str, str], *, required: bool) -> int | None:
    raw = (form.get(key) or "").strip()
    if not raw:
        if required:
            errors[key] = "Indichi i minuti."
        return None
    low, high = entes.CHAT_TARGET_RANGE
    if not raw.isdigit() or not low <= int(raw) <= high:
        errors[key] = f"Un numero intero di minuti, da {low} a {high}."
        return None
    return int(raw)


@bp.post("/settings/chat-sla")
@console_page(*ADMINS)
async def settings_chat_sla(request: Request, p: Principal) -> HTTPResponse:
    """The first-response target of handed-off chats, for the ente and per topic (empty: the ente's)."""
    form = request.form or {}
    async with db_session(request) as s:
        topic_ids = [t.id for t in await offices.list_topics(s, ente_id=p.ente_id)]
    errors: dict[str, str] = {}
    minutes = _minutes(form, "minutes", errors, required=True)
    per_topic = {tid: _minutes(form, f"t{tid}", errors, required=False) for tid in topic_ids}
    if errors or minutes is None:
        return await _settings(
            request,
            p,
            err="I tempi di prima risposta non sono stati salvati: corregga i campi segnalati.",
            sla_form={k: form.get(k) or "" for k in form},
            sla_errors=errors,
            status=422,
        )
    async with begin(request, screen="settings") as cx:
        await ente_commands.set_chat_targets(cx, minutes=minutes, per_topic=per_topic)
    return redirect("/console/settings?esito=sla#sla", status=303)

"""Knowledge-base screens: the article list with filters, create and edit (Markdown with a server-rendered preview,
the same sanitiser as the API), publish and archive, the version history with restore, the feedback of each
article and the gap list (unanswered questions grouped by meaning). Admins curate; operators read. Every change
goes through ``crm.kb.service`` and is applied to this process's search index at once, as the API does."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from sanic import Request
from sanic.response import HTTPResponse, redirect

from crm.console.forms import field_message, service_error
from crm.console.kit import KB_EDITORS, KB_GAP_READERS, KB_READERS, bp, ente_tz, env, render
from crm.console.session import console_page, context
from crm.console.slots import as_int
from crm.core.auth import Principal
from crm.core.commands import begin
from crm.core.errors import ApiError, Conflict, NotFound
from crm.core.labels import LABELS, local
from crm.core.text import slugify
from crm.db import db_session
from crm.kb import commands as kb_commands
from crm.kb import gaps as gap_groups
from crm.kb import service as kb
from crm.kb.indexer import is_answerable
from crm.kb.models import STATUSES, Article
from crm.kb.render import body_html
from crm.kb.schemas import ArticleIn, ArticlePatch
from crm.offices import service as offices
from knowledge.embedders import get_embedder
from knowledge.index import OUT_OF_COMPETENCE

KB_STATUS_LABEL = LABELS["kb_status"]
env.globals["KB_STATUS_LABEL"] = KB_STATUS_LABEL
FIELD_LABEL = {
    "created": "creazione",
    "slug": "identificativo",
    "title": "titolo",
    "body": "testo",
    "topic": "ambito",
    "office_id": "ufficio",
    "url": "pagina di riferimento",
    "valid_from": "inizio validità",
    "valid_until": "fine validità",
    "keywords": "parole chiave",
    "phrasings": "formulazioni alternative",
    "language": "lingua",
    "status": "stato",
}
FORM_FIELDS = (
    "title",
    "slug",
    "body",
    "topic",
    "office_id",
    "url",
    "valid_from",
    "valid_until",
    "keywords",
    "phrasings",
)
OUTCOME = {
    "creata": "Scheda creata come bozza: la pubblichi quando è pronta.",
    "creata_lacune": "Scheda creata come bozza. Le domande collegate sono state tolte dall'elenco delle "
    "domande senza risposta.",
    "salvata": "Modifiche salvate: è stata registrata una nuova versione.",
    "pubblicata": "Scheda pubblicata: l'assistente virtuale la usa da subito per rispondere.",
    "archiviata": "Scheda archiviata: l'assistente virtuale non la usa più.",
    "ripristinata": "Versione ripristinata: il contenuto è tornato quello scelto, come nuova versione.",
    "gestite": "Domande segnate come gestite.",
}
MESSAGES = {  # (field, fragment of the validator's message) -> Italian
    ("title", "at least"): "Il titolo deve avere almeno 3 caratteri.",
    ("title", "blank"): "Indichi il titolo.",
    ("body", "at least"): "Il testo deve avere almeno 10 caratteri.",
    ("body", "blank"): "Scriva il testo della scheda.",
    ("slug", "pattern"): "Usi solo lettere minuscole senza accenti, numeri e trattini (es. carta-identita).",
    ("slug", "at least"): "L'identificativo deve avere almeno 2 caratteri.",
    ("url", "http"): "Indichi un indirizzo che inizia con https:// (o http://).",
    ("keywords", "at most"): "Al massimo 50 parole chiave.",
    ("phrasings", "at most"): "Al massimo 50 formulazioni.",
}


def _split(raw: str, *, commas: bool) -> list[str]:
    parts = re.split(r"[,\n]" if commas else r"\n", raw or "")
    return list(dict.fromkeys(p.strip() for p in parts if p.strip()))


def _changed(fields: list[str]) -> str:
    out = []
    for f in fields:
        m = re.fullmatch(r"restored v(\d+)", f)
        out.append(f"ripristino della versione {m.group(1)}" if m else FIELD_LABEL.get(f, f))
    return ", ".join(out) or "—"


def _why_not(a: Article) -> str:
    """Why the bot does not answer with this article (empty when it does)."""
    if is_answerable(a):
        return ""
    if a.status == "draft":
        return "È una bozza: va pubblicata."
    if a.status == "archived":
        return "È archiviata."
    today = date.today()
    if a.valid_from and a.valid_from > today:
        return f"È pubblicata ma valida solo dal {a.valid_from:%d/%m/%Y}."
    return f"È pubblicata ma la validità è scaduta il {a.valid_until:%d/%m/%Y}." if a.valid_until else ""


def _raw(form: Any) -> dict[str, str]:
    return {k: (form.get(k) or "").strip() if k != "body" else (form.get(k) or "") for k in FORM_FIELDS}


def _article_values(raw: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Form strings -> the article model's values, with Italian errors for what cannot be converted."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "title": raw["title"],
        "body": raw["body"].strip(),
        "topic": raw["topic"],
        "url": raw["url"],
        "keywords": _split(raw["keywords"], commas=True),
        "phrasings": _split(raw["phrasings"], commas=False),
        "office_id": as_int(raw["office_id"]),
    }
    for name in ("valid_from", "valid_until"):
        try:
            values[name] = date.fromisoformat(raw[name]) if raw[name] else None
        except ValueError:
            errors[name] = "Data non valida."
    if not values["title"]:
        errors["title"] = "Indichi il titolo."
    if not values["body"]:
        errors["body"] = "Scriva il testo della scheda."
    if values.get("valid_from") and values.get("valid_until") and values["valid_until"] < values["valid_from"]:
        errors["valid_until"] = "La fine della validità non può precedere l'inizio."
    return values, errors


def _model_errors(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "valid_until"
        msg = str(err.get("msg", ""))
        text = next((t for (f, frag), t in MESSAGES.items() if f == name and frag in msg), None)
        out.setdefault(name, text or field_message(msg))
    return out


async def _form_ctx(s: Any, p: Any, **kw: Any) -> dict[str, Any]:
    topics = await offices.list_topics(s, ente_id=p.ente_id)
    used = await kb.topics_in_use(s, ente_id=p.ente_id)
    names = {t.slug: t.name for t in topics}
    topic_options = [(t.slug, t.name) for t in topics] + [(u, u) for u in used if u not in names]
    office_options = [(o.id, o.name) for o in await offices.list_offices(s, ente_id=p.ente_id)]
    return {"topic_options": topic_options, "office_options": office_options, **kw}


# --- list -------------------------------------------------------------------------------------------------------------
@bp.get("/kb")
@console_page(*KB_READERS)
async def kb_list(request: Request, p: Principal) -> HTTPResponse:
    stato = request.args.get("stato", "")
    stato = stato if stato in STATUSES else ""
    ambito = request.args.get("ambito", "").strip()[:64]
    q = request.args.get("q", "").strip()[:200]
    async with db_session(request) as s:
        rows = list(
            (
                await s.scalars(
                    kb.list_stmt(ente_id=p.ente_id, status=stato or None, topic=ambito or None, q=q or None)
                    .order_by(Article.title)
                    .limit(500)
                )
            ).all()
        )
        stats = {x["slug"]: x for x in await kb.feedback_stats(s, ente_id=p.ente_id)}
        ctx = await _form_ctx(s, p)
        tz = await ente_tz(s, p.ente_id)
    items = [{"a": a, "answerable": is_answerable(a), "feedback": stats.get(a.slug)} for a in rows]
    topic_names = dict(ctx["topic_options"])
    return render(
        "kb_list.html",
        **context(
            request,
            p,
            **ctx,
            items=items,
            stato=stato,
            ambito=ambito,
            q=q,
            tz=tz,
            topic_names=topic_names,
            editor=p.role in KB_EDITORS,
            ok=OUTCOME.get(request.args.get("esito", ""), ""),
        ),
    )


# --- create -----------------------------------------------------------------------------------------------------------
def _gap_ids(raw: str | None) -> list[int]:
    return [int(x) for x in (raw or "").split(",") if x.strip().isdigit()][:500]


@bp.get("/kb/new")
@console_page(*KB_EDITORS)
async def kb_new_form(request: Request, p: Principal) -> HTTPResponse:
    gap_ids = _gap_ids(request.args.get("lacune"))
    raw = dict.fromkeys(FORM_FIELDS, "")
    raw["title"] = request.args.get("titolo", "").strip()[:300]
    async with db_session(request) as s:
        questions = await kb.gap_questions(s, ente_id=p.ente_id, ids=gap_ids)
        raw["phrasings"] = "\n".join(q for q in questions if q != raw["title"])
        ctx = await _form_ctx(s, p)
    return render(
        "kb_edit.html",
        **context(
            request,
            p,
            **ctx,
            a=None,
            raw=raw,
            errors={},
            error=None,
            preview=None,
            gap_ids=",".join(map(str, gap_ids)),
            gap_count=len(questions),
        ),
    )


@bp.post("/kb/new")
@console_page(*KB_EDITORS)
async def kb_create(request: Request, p: Principal) -> HTTPResponse:
    form = request.form or {}
    raw = _raw(form)
    gap_ids = _gap_ids(form.get("lacune"))
    raw["slug"] = raw["slug"] or slugify(raw["title"])
    values, errors = _article_values(raw)
    error, status, preview = None, 422, None
    data = None
    try:
        data = ArticleIn(slug=raw["slug"], **values)
    except ValidationError as exc:
        errors = {**_model_errors(exc), **errors}
    if form.get("azione") == "anteprima":
        preview, status = {"title": raw["title"], "html": body_html(raw["body"])}, 200
    elif data is not None and not errors:
        try:
            async with begin(request, screen="kb") as cx:
                a, resolved = await kb_commands.create_article(cx, data=data, gap_ids=gap_ids)
        except Conflict as exc:
            if "slug" not in exc.fields:
                raise
            errors["slug"] = "Esiste già una scheda con questo identificativo: ne scelga un altro."
            status = 409
        else:
            return redirect(f"/console/kb/{a.id}?esito=" + ("creata_lacune" if resolved else "creata"), status=303)
    if errors and preview is None:
        error = "La scheda non è stata salvata: corregga i campi indicati."
    async with db_session(request) as s:
        ctx = await _form_ctx(s, p)
    return render(
        "kb_edit.html",
        status=status,
        **context(
            request,
            p,
            **ctx,
            a=None,
            raw=raw,
            errors=errors,
            error=error,
            preview=preview,
            gap_ids=",".join(map(str, gap_ids)),
            gap_count=len(gap_ids),
        ),
    )


# --- one article ------------------------------------------------------------------------------------------------------
@bp.get("/kb/<article_id:int>")
@console_page(*KB_READERS)
async def kb_article(request: Request, p: Principal, article_id: int) -> HTTPResponse:
    async with db_session(request) as s:
        a = await kb.get(s, ente_id=p.ente_id, article_id=article_id)
        versions = list(await kb.versions(s, ente_id=p.ente_id, article_id=a.id))
        fb = next((x for x in await kb.feedback_stats(s, ente_id=p.ente_id) if x["slug"] == a.slug), None)
        ctx = await _form_ctx(s, p)
        tz = await ente_tz(s, p.ente_id)
    return render(
        "kb_article.html",
        **context(
            request,
            p,
            **ctx,
            a=a,
            html=body_html(a.body),
            versions=versions,
            fb=fb,
            tz=tz,
            why_not=_why_not(a),
            answerable=is_answerable(a),
            changed=_changed,
            editor=p.role in KB_EDITORS,
            topic_names=dict(ctx["topic_options"]),
            office_names=dict(ctx["office_options"]),
            ok=OUTCOME.get(request.args.get("esito", ""), ""),
        ),
    )


@bp.get("/kb/<article_id:int>/versions/<version:int>")
@console_page(*KB_READERS)
async def kb_version(request: Request, p: Principal, article_id: int, version: int) -> HTTPResponse:
    async with db_session(request) as s:
        a = await kb.get(s, ente_id=p.ente_id, article_id=article_id)
        v = next((x for x in await kb.versions(s, ente_id=p.ente_id, article_id=a.id) if x.version == version), None)
        if v is None:
            raise NotFound("version not found")
        tz = await ente_tz(s, p.ente_id)
        topic_names = await offices.topic_names(s, ente_id=p.ente_id)
    snap = v.snapshot or {}
    return render(
        "kb_version.html",
        **context(
            request,
            p,
            a=a,
            v=v,
            snap=snap,
            html=body_html(snap.get("body", "")),
            tz=tz,
            changed=_changed,
            editor=p.role in KB_EDITORS,
            topic_names=topic_names,
        ),
    )


@bp.get("/kb/<article_id:int>/edit")
@console_page(*KB_EDITORS)
async def kb_edit_form(request: Request, p: Principal, article_id: int) -> HTTPResponse:
    async with db_session(request) as s:
        a = await kb.get(s, ente_id=p.ente_id, article_id=article_id)
        ctx = await _form_ctx(s, p)
    raw = {
        "title": a.title,
        "slug": a.slug,
        "body": a.body,
        "topic": a.topic,
        "office_id": str(a.office_id or ""),
        "url": a.url,
        "valid_from": a.valid_from.isoformat() if a.valid_from else "",
        "valid_until": a.valid_until.isoformat() if a.valid_until else "",
        "keywords": ", ".join(a.keywords or []),
        "phrasings": "\n".join(a.phrasings or []),
    }
    return render(
        "kb_edit.html",
        **context(
            request,
            p,
            **ctx,
            a=a,
            raw=raw,
            errors={},
            error=None,
            preview=None,
            gap_ids="",
            gap_count=0,
            version=a.version,
        ),
    )


@bp.post("/kb/<article_id:int>/edit")
@console_page(*KB_EDITORS)
async def kb_update(request: Request, p: Principal, article_id: int) -> HTTPResponse:
    form = request.form or {}
    raw = _raw(form)
    values, errors = _article_values(raw)
    error, status, preview = None, 422, None
    data = None
    try:
        data = ArticlePatch(**values)
    except ValidationError as exc:
        errors = {**_model_errors(exc), **errors}
    if form.get("azione") == "anteprima":
        preview, status = {"title": raw["title"], "html": body_html(raw["body"])}, 200
    elif data is not None and not errors:
        try:
            async with begin(request, screen="kb") as cx:
                await kb_commands.update_article(
                    cx, article_id=article_id, data=data, expected_version=as_int(form.get("version")) or -1
                )
        except ApiError as exc:
            if exc.status == 404:
                raise
            if exc.code == "stale":
                error = (
                    "Nel frattempo la scheda è stata modificata da un altro utente: ricarichi la pagina per "
                    "vedere la versione attuale (le sue modifiche non sono state salvate)."
                )
                status = 409
            elif "valid_until" in exc.fields:
                errors["valid_until"] = "La fine della validità non può precedere l'inizio."
            else:
                error, status = service_error(exc), exc.status
        else:
            return redirect(f"/console/kb/{article_id}?esito=salvata", status=303)
    if errors and preview is None and error is None:
        error = "Le modifiche non sono state salvate: corregga i campi indicati."
    async with db_session(request) as s:
        a = await kb.get(s, ente_id=p.ente_id, article_id=article_id)
        ctx = await _form_ctx(s, p)
    raw["slug"] = a.slug
    return render(
        "kb_edit.html",
        status=status,
        **context(
            request,
            p,
            **ctx,
            a=a,
            raw=raw,
            errors=errors,
            error=error,
            preview=preview,
            gap_ids="",
            gap_count=0,
            version=as_int(form.get("version")) or a.version,
        ),
    )


async def _set_status(request: Request, p: Principal, article_id: int, status: str, outcome: str) -> HTTPResponse:
    change = kb_commands.publish if status == "published" else kb_commands.archive
    async with begin(request, screen="kb") as cx:
        await change(cx, article_id=article_id)
    return redirect(f"/console/kb/{article_id}?esito={outcome}", status=303)


@bp.post("/kb/<article_id:int>/publish")
@console_page(*KB_EDITORS)
async def kb_publish(request: Request, p: Principal, article_id: int) -> HTTPResponse:
    return await _set_status(request, p, article_id, "published", "pubblicata")


@bp.post("/kb/<article_id:int>/archive")
@console_page(*KB_EDITORS)
async def kb_archive(request: Request, p: Principal, article_id: int) -> HTTPResponse:
    return await _set_status(request, p, article_id, "archived", "archiviata")


@bp.post("/kb/<article_id:int>/restore")
@console_page(*KB_EDITORS)
async def kb_restore(request: Request, p: Principal, article_id: int) -> HTTPResponse:
    form = request.form or {}
    version = as_int(form.get("version"))
    if version is None:
        raise NotFound("version not found")
    async with begin(request, screen="kb") as cx:
        await kb_commands.restore(cx, article_id=article_id, version=version)
    return redirect(f"/console/kb/{article_id}?esito=ripristinata", status=303)


# --- gaps -------------------------------------------------------------------------------------------------------------
# the curators' two lists: what the assistant could not answer (or answered unhelpfully), and what it sent to another
# body (the passport to the Questura): the second needs no article unless many ask, so it does not crowd the first
GAP_TABS: dict[str, tuple[str, ...]] = {"da-scrivere": ("unanswered", "not_helpful"), "altri-enti": ("redirected",)}
GAP_TAB_LABELS = {"da-scrivere": "Senza risposta", "altri-enti": "Indirizzate ad altri enti"}


@bp.get("/kb/gaps")
@console_page(*KB_GAP_READERS)
async def kb_gaps(request: Request, p: Principal) -> HTTPResponse:
    tab = request.args.get("tipo", "da-scrivere")
    if tab not in GAP_TABS:
        tab = "da-scrivere"
    async with db_session(request) as s:
        rows = list(await kb.open_gaps(s, ente_id=p.ente_id, kinds=GAP_TABS[tab]))
        counts = await kb.open_gap_counts(s, ente_id=p.ente_id)
        tz = await ente_tz(s, p.ente_id)
    embedder = await asyncio.to_thread(get_embedder, request.app.ctx.settings.kb_embedder)
    groups = await asyncio.to_thread(gap_groups.group, rows, embedder)
    by_id = {r.id: r for r in rows}
    for g in groups:
        # where the assistant sent them: the other bodies' topics (a wrong one says an anchor needs a look)
        g["elsewhere"] = sorted(
            {by_id[i].reason.removeprefix(OUT_OF_COMPETENCE) for i in g["ids"] if by_id[i].kind == "redirected"}
        )
        ids = ",".join(map(str, g["ids"]))
        g["ids_csv"] = ids
        g["last"] = local(datetime.fromisoformat(g["last_at"]), tz, "%d/%m/%Y")
        g["new_url"] = "/console/kb/new?" + urlencode({"titolo": g["label"][:300], "lacune": ids})
    return render(
        "kb_gaps.html",
        **context(
            request,
            p,
            groups=groups,
            questions=len(rows),
            tab=tab,
            tabs=[(key, GAP_TAB_LABELS[key], sum(counts[k] for k in kinds)) for key, kinds in GAP_TABS.items()],
            tz=tz,
            editor=p.role in KB_EDITORS,
            ok=OUTCOME.get(request.args.get("esito", ""), ""),
        ),
    )


@bp.post("/kb/gaps/resolve")
@console_page(*KB_EDITORS)
async def kb_gaps_resolve(request: Request, p: Principal) -> HTTPResponse:
    form = request.form or {}
    ids = _gap_ids(form.get("ids"))
    async with begin(request, screen="kb") as cx:
        await kb_commands.resolve_gaps(cx, ids=ids)
    return redirect("/console/kb/gaps?esito=gestite", status=303)

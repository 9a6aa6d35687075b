"""The desk's shared kit: the blueprint, the templates, rendering with the citizen and the CSRF token, the Italian
error page, and the static files (Bootstrap Italia and Leaflet served pre-compressed, so a phone on a slow network
gets ~80 KB of CSS instead of 600 KB)."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import mimetypes
from datetime import date, datetime
from itertools import groupby
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html, raw

from crm.core.auth import public
from crm.core.errors import ApiError, NotFound
from crm.sportello.session import Citizen, csrf_token, finish

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
bp = Blueprint("sportello", url_prefix="/sportello")
env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
WEEKDAYS = ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"]
MONTHS = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
]
BOOKING_STATUS = {
    "confirmed": "Confermato",
    "cancelled": "Annullato",
    "attended": "Svolto",
    "no_show": "Non presentato",
}
INSTANCE_STATUS = {
    "submitted": "Presentata",
    "protocolled": "Protocollata",
    "in_charge": "Presa in carico",
    "integration_requested": "Integrazione richiesta",
    "integrated": "Integrata",
    "accepted": "Accolta",
    "rejected": "Respinta",
    "withdrawn": "Ritirata",
}
TICKET_STATUS = {
    "new": "Ricevuta",
    "in_charge": "Presa in carico",
    "waiting_citizen": "In attesa di sua risposta",
    "resolved": "Risolta",
    "closed": "Chiusa",
    "rejected": "Respinta",
}
CHANNEL = {
    "web": "chat sul sito",
    "sms": "SMS",
    "telegram": "Telegram",
    "email": "e-mail",
    "io": "app IO",
    "phone": "telefono",
    "counter": "sportello",
}
# what the desk may serve as /sportello/static/<prefix>/...: its own files and the vendored libraries
STATIC_ROOTS = {
    "sp": HERE / "static",
    "bi": ROOT / "crm" / "console" / "static" / "vendor" / "bootstrap-italia",
    "leaflet": HERE / "static" / "vendor" / "leaflet",
}
COMPRESSIBLE = {".css", ".js", ".svg", ".json", ".map"}
_gz_cache: dict[Path, tuple[float, bytes]] = {}


def tz_of(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.ctx.settings.timezone)


def local(value: datetime | None, tz: ZoneInfo, fmt: str = "%d/%m/%Y %H:%M") -> str:
    return "—" if value is None else value.astimezone(tz).strftime(fmt)


def long_day(value: date | datetime) -> str:
    return f"{WEEKDAYS[value.weekday()]} {value.day} {MONTHS[value.month - 1]} {value.year}"


def short_day(value: date | datetime) -> str:
    """``mar 1 dic``: for a row of days on a phone (the long form goes to assistive technology)."""
    return f"{WEEKDAYS[value.weekday()][:3]} {value.day} {MONTHS[value.month - 1][:3]}"


def days_of(
    slots: list[Any], tz: ZoneInfo, wanted: str | None, limit: int = 10
) -> tuple[list[tuple[date, list[Any]]], tuple[date, list[Any]] | None]:
    """Free slots grouped by local day (the first ``limit`` days that have some) and the day to show: ``wanted``
    (ISO date) when it is one of them, else the first."""
    days = [(day, list(group)) for day, group in groupby(slots, key=lambda sl: sl.start.astimezone(tz).date())]
    days = days[:limit]
    chosen = next((d for d in days if d[0].isoformat() == wanted), days[0] if days else None)
    return days, chosen


def plural(n: int, one: str, many: str) -> str:
    """``1 ora``, ``3 ore``: Italian counts agree with the noun."""
    return f"{n} {one if n == 1 else many}"


env.globals.update(
    BOOKING_STATUS=BOOKING_STATUS, INSTANCE_STATUS=INSTANCE_STATUS, TICKET_STATUS=TICKET_STATUS, CHANNEL=CHANNEL
)
env.filters.update(long_day=long_day, short_day=short_day, plural=plural)


def render(request: Request, template: str, *, status: int = 200, **ctx: Any) -> HTTPResponse:
    citizen: Citizen | None = getattr(request.ctx, "citizen", None)
    tz = tz_of(request)
    body = env.get_template(template).render(
        citizen=citizen,
        csrf=csrf_token(request),
        path=request.path,
        ente_name=request.app.ctx.sportello_ente_name,
        local=lambda v, fmt="%d/%m/%Y %H:%M": local(v, tz, fmt),
        **ctx,
    )
    return html(body, status=status)


def error_page(request: Request, exc: ApiError) -> HTTPResponse:
    """Citizens get an Italian page, never the API's JSON: not found, forbidden, too many attempts, invalid input."""
    titles = {
        404: "Pagina non trovata",
        403: "Operazione non consentita",
        429: "Troppi tentativi",
        409: "Operazione non più possibile",
        422: "Dati non validi",
    }
    messages = {
        404: "La pagina o il documento che cerca non esiste, oppure non appartiene al suo profilo.",
        429: "Ha fatto troppi tentativi in poco tempo. Attenda qualche minuto e riprovi.",
    }
    text = messages.get(exc.status) or (
        exc.message if _italian(exc.message) else "La richiesta non è andata a buon fine. Riprovi."
    )
    response = render(
        request,
        "error.html",
        status=exc.status,
        title=titles.get(exc.status, "Si è verificato un problema"),
        text=text,
        no_rating=True,
    )  # an error page is not content to rate
    for k, v in (exc.headers or {}).items():
        response.headers[k] = v
    return finish(request, response)


def _italian(message: str) -> bool:
    """Domain errors are English (API); the desk's own are Italian. Only the latter reach a citizen verbatim."""
    return any(w in message.lower() for w in (" il ", " la ", " non ", " è ", " di ", "riprov", " lo ", " le "))


def sign(request: Request, value: str) -> str:
    """A short HMAC that lets a link (e.g. the .ics of a booking just made without signing in) prove it came from
    this desk."""
    secret = request.app.ctx.settings.secret_key.get_secret_value()
    return hmac.new(secret.encode(), b"sportello-link:" + value.encode(), hashlib.sha256).hexdigest()[:32]


def signed_ok(request: Request, value: str, given: str) -> bool:
    return bool(given) and hmac.compare_digest(sign(request, value), given)


@bp.get("/static/<prefix:str>/<path:path>")
@public
async def static(request: Request, prefix: str, path: str) -> HTTPResponse:
    base = STATIC_ROOTS.get(prefix)
    if base is None:
        raise NotFound("not found")
    target = (base / path).resolve()
    if not target.is_file() or base.resolve() not in target.parents:
        raise NotFound("not found")
    ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript", "image/svg+xml"):
        ctype += "; charset=utf-8"
    headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if target.suffix in COMPRESSIBLE and "gzip" in request.headers.get("accept-encoding", ""):
        mtime = target.stat().st_mtime
        cached = _gz_cache.get(target)
        if cached is None or cached[0] != mtime:
            cached = (mtime, gzip.compress(target.read_bytes(), 6))
            _gz_cache[target] = cached
        return raw(cached[1], content_type=ctype, headers={**headers, "Content-Encoding": "gzip"})
    return raw(target.read_bytes(), content_type=ctype, headers=headers)

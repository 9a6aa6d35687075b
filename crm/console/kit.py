"""The console's shared kit: the blueprint every screen registers on, the templates and their filters, the labels
that put enum values into Italian, the page guard's role lists, ``render`` and the error page.

Screens import this module; ``crm/console/api.py`` imports the screens (explicitly, in one list). This module imports
no screen."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html

from crm.bookings import policies as booking_policies
from crm.contacts import policies as contact_policies
from crm.instances import policies as instance_policies
from crm.kb import policies as kb_policies
from crm.operators import policies as operator_policies
from crm.tickets import policies as ticket_policies
from crm.console.forms import service_error
from crm.console.session import context
from crm.core.errors import ApiError
from crm.entes import service as entes

bp = Blueprint("console", url_prefix="/console")
HERE = Path(__file__).parent
bp.static("/static", str(HERE / "static"), name="static")
env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
CHANNEL_LABEL = {"web": "Web chat", "sms": "SMS", "telegram": "Telegram", "email": "E-mail", "phone": "Telefono"}
MODE_LABEL = {"bot": "Con l'assistente", "waiting": "In attesa", "assigned": "In carico", "closed": "Chiusa"}
STATUS_LABEL = {"new": "Nuova", "in_charge": "In carico", "waiting_citizen": "Attesa cittadino", "resolved": "Risolta",
                "closed": "Chiusa", "rejected": "Respinta"}
KIND_LABEL = {"information": "Informazione", "report": "Segnalazione", "complaint": "Reclamo", "other": "Altro"}
PRIORITY_LABEL = {"bassa": "Bassa", "media": "Media", "alta": "Alta"}
BOOKING_STATUS_LABEL = {"confirmed": "Confermata", "cancelled": "Annullata", "attended": "Presentato",
                        "no_show": "Non presentato"}
INSTANCE_STATUS_LABEL = {"submitted": "Presentata", "protocolled": "Protocollata", "in_charge": "In carico",
                         "integration_requested": "Integrazione richiesta", "integrated": "Integrata",
                         "accepted": "Accolta", "rejected": "Respinta", "withdrawn": "Ritirata"}
WEEKDAYS = ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"]
# which screens each role sees (the navigation, and the role checks of the routes below)
INTAKE_ROLES = ("admin", "operator", "phone_operator")
BOOKING_VIEWERS = booking_policies.VIEW.staff
BOOKING_EDITORS = booking_policies.CANCEL.staff  # cancel, reschedule
BOOKING_MARKERS = booking_policies.MARK.staff  # attended, no-show
INSTANCE_HANDLERS = instance_policies.HANDLE.staff
KB_READERS = ("admin", "operator")  # the console's knowledge-base screens (the API lets every role read)
KB_EDITORS = kb_policies.CURATE.staff
DASHBOARD_ROLES = ("admin", "operator")
ADMINS = operator_policies.MANAGE.staff  # operators and settings
CONTACT_MERGERS = contact_policies.MERGE.staff
GDPR_EXPORTERS = contact_policies.EXPORT.staff  # erasure: contact_policies.ERASE (admins)
REQUEST_VIEWERS = ticket_policies.VIEW.staff  # the requests screen
REQUEST_HANDLERS = ticket_policies.HANDLE.staff  # take, assign, priority, status, notes


def _local(value: datetime | None, tz: ZoneInfo | None = None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    if value is None:
        return "—"
    return (value.astimezone(tz) if tz else value).strftime(fmt)


def _day(value: date | datetime) -> str:
    return f"{WEEKDAYS[value.weekday()]} {value.strftime('%d/%m/%Y')}"


env.globals.update(CHANNEL_LABEL=CHANNEL_LABEL, MODE_LABEL=MODE_LABEL, STATUS_LABEL=STATUS_LABEL, KIND_LABEL=KIND_LABEL,
                   PRIORITY_LABEL=PRIORITY_LABEL, BOOKING_STATUS_LABEL=BOOKING_STATUS_LABEL,
                   INSTANCE_STATUS_LABEL=INSTANCE_STATUS_LABEL, INTAKE_ROLES=INTAKE_ROLES,
                   BOOKING_VIEWERS=BOOKING_VIEWERS, BOOKING_EDITORS=BOOKING_EDITORS, BOOKING_MARKERS=BOOKING_MARKERS,
                   INSTANCE_HANDLERS=INSTANCE_HANDLERS, KB_READERS=KB_READERS, KB_EDITORS=KB_EDITORS,
                   DASHBOARD_ROLES=DASHBOARD_ROLES, ADMINS=ADMINS, CONTACT_MERGERS=CONTACT_MERGERS,
                   GDPR_EXPORTERS=GDPR_EXPORTERS, REQUEST_VIEWERS=REQUEST_VIEWERS,
                   REQUEST_HANDLERS=REQUEST_HANDLERS)
env.filters.update(local=_local, day=_day,
                   options=lambda rows, value, label: [(getattr(r, value), getattr(r, label)) for r in rows])


def render(name: str, status: int = 200, **ctx: Any) -> HTTPResponse:
    return html(env.get_template(name).render(**ctx), status=status,
                headers={"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' "
                                                    "'unsafe-inline'; font-src 'self' data:; frame-ancestors 'none'",
                         "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"})


ERROR_TITLE = {400: "Richiesta non valida", 403: "Operazione non consentita", 404: "Pagina non trovata",
               409: "Operazione non possibile", 422: "Dati non validi"}


@bp.exception(ApiError)
async def console_error(request: Request, exc: ApiError) -> HTTPResponse:
    """Errors on console pages are pages in Italian (the API keeps its JSON errors)."""
    p = getattr(request.ctx, "principal", None)
    if exc.status == 403 and "CSRF" in exc.message:
        text = "Il modulo è scaduto o non è valido: ricarichi la pagina e riprovi."
    elif exc.status == 403:
        text = "Il suo ruolo non consente di aprire questa pagina o di eseguire questa operazione."
    else:
        text = service_error(exc)
    return render("error.html", status=exc.status,
                  **context(request, p, title=ERROR_TITLE.get(exc.status, "Errore"), message=text))


ente_tz = entes.timezone  # the screens' name for crm.entes.service.timezone
